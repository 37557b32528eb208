@_exported import FerryOutbox
import Foundation
import Observation

/// What the share extension left in the App Group, and which batch waits for a device.
@MainActor
@Observable
public final class ShareInbox {
    /// The batch whose device picker is offered.
    public private(set) var presented: OutboxBatch?

    private let outbox: SharedOutbox?
    /// Batches being sent: kept on disk until their transfer ends.
    @ObservationIgnored private var sending: Set<UUID> = []

    /// `outbox`: the App Group's (nil where there is none).
    public init(outbox: SharedOutbox? = SharedOutbox.appGroup()) {
        self.outbox = outbox
    }

    /// Offers the next waiting batch (or `preferred`, the one the extension just opened Ferry for).
    public func refresh(preferring preferred: UUID? = nil) {
        guard presented == nil, let outbox else { return }
        let waiting = outbox.pending().filter { !sending.contains($0.id) }
        presented = waiting.first { $0.id == preferred } ?? waiting.first
    }

    /// `ferry://outbox?id=<uuid>`, from the share extension.
    public func open(_ url: URL) {
        guard url.scheme == "ferry", url.host(percentEncoded: false) == "outbox" else { return }
        let id = URLComponents(url: url, resolvingAgainstBaseURL: false)?
            .queryItems?.first { $0.name == "id" }?.value
            .flatMap(UUID.init(uuidString:))
        refresh(preferring: id)
    }

    /// The picker was closed without a choice: the batch stays in the outbox, offered again at
    /// the next `refresh()` (when Ferry comes to the front).
    public func hide() {
        presented = nil
    }

    /// The batch is on its way: hidden now, removed once `finished`.
    public func startedSending(_ batch: OutboxBatch) {
        sending.insert(batch.id)
        if presented?.id == batch.id { presented = nil }
    }

    public func finished(_ batch: OutboxBatch) {
        sending.remove(batch.id)
        try? outbox?.remove(batch)
        refresh()
    }

    /// Removes a batch that was sent (text only) or that the user gave up.
    public func discard(_ batch: OutboxBatch) {
        if presented?.id == batch.id { presented = nil }
        try? outbox?.remove(batch)
        refresh()
    }
}

/// The sheet the app shows: exactly one, presented from one place (the root view).
public enum Sheet: Identifiable, Hashable, Sendable {
    /// An incoming request; `shown` counts how often it was put up again.
    case request(PendingRequest, shown: Int)
    /// What to send to a device (photos, files, a message).
    case send(NearbyDevice)
    /// Picking the device for what the share extension handed over.
    case outbox(OutboxBatch)

    public var id: String {
        switch self {
        case let .request(request, shown): "request-\(request.sessionId)-\(shown)"
        case let .send(device): "send-\(device.fingerprint)"
        case let .outbox(batch): "outbox-\(batch.id.uuidString)"
        }
    }
}

/// Decides which sheet is up. Incoming requests come first, oldest first, over anything the
/// user opened: the user's sheet (the send sheet, or the device picker for shared items) steps
/// aside while a request is answered, and comes back after it. A request leaves only when the
/// model drops it (answered, withdrawn by its sender, or the node stopped), never because a
/// sheet closed, so the sender never waits for a request nobody can see.
///
/// SwiftUI: one `.sheet(item: $presentation.sheet)` on the root view; the views open sheets
/// through `showSend(to:)`, close them through `close(_:)`.
@MainActor
@Observable
public final class Presentation {
    public let inbox: ShareInbox
    private let model: FerryModel
    /// The send sheet the user opened, if any.
    public private(set) var sendTarget: NearbyDevice?
    /// Bumped when the request sheet was taken down by something else than an answer: it is put
    /// up again (as a new item, which SwiftUI presents).
    private var requestShown = 0

    public init(model: FerryModel, inbox: ShareInbox) {
        self.model = model
        self.inbox = inbox
    }

    /// The sheet to show now. Writing nil (SwiftUI does when a sheet is swiped away) closes the
    /// user's sheet; a request stays up until it is answered.
    public var sheet: Sheet? {
        get {
            if let request = model.requests.first { return .request(request, shown: requestShown) }
            if let sendTarget { return .send(sendTarget) }
            if let batch = inbox.presented { return .outbox(batch) }
            return nil
        }
        set {
            guard newValue == nil else { return }
            if model.requests.first != nil {
                requestShown += 1
            } else if sendTarget != nil {
                sendTarget = nil
            } else {
                inbox.hide()
            }
        }
    }

    /// Opens the send sheet for `device` (shown at once, or after the requests waiting).
    public func showSend(to device: NearbyDevice) {
        sendTarget = device
    }

    /// Closes the user's sheet `sheet` (Cancel, or done): a request on screen is not touched.
    public func close(_ sheet: Sheet) {
        switch sheet {
        case .request:
            break
        case let .send(device):
            if sendTarget?.fingerprint == device.fingerprint { sendTarget = nil }
        case .outbox:
            inbox.hide()
        }
    }
}
