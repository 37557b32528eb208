import Foundation
import FerryCore

/// A browser (or a LocalSend app) asking to see the share, waiting for the owner's answer.
public struct BrowserAsk: Identifiable, Hashable, Sendable {
    /// The request's id, for `FerryModel.answerBrowser(_:approve:)`.
    public var id: String
    /// The browser's IP address, as the node saw it.
    public var address: String
    /// Its User-Agent, as it sent it (peer text: show `shownAgent`).
    public var userAgent: String
    public var askedAt: Date

    /// The address made safe to show.
    public var shownAddress: String { shownName(address) }
    /// The User-Agent made safe to show on one line.
    public var shownAgent: String { shownName(userAgent) }
}

/// A download from the share, while it runs and after.
public struct ShareDownload: Identifiable, Hashable, Sendable {
    /// "<address> <file id>".
    public var id: String
    public var address: String
    /// The file's name as the share offers it (a name picked from Files may hold anything:
    /// show `shownName`).
    public var name: String
    public var sent: UInt64
    /// What this download sends (0 for a folder's zip, known only at its end).
    public var size: UInt64
    public var finished: Bool
    public var complete: Bool

    public var shownName: String { FerryKit.shownName(name) }
}

/// An open share via link: what it offers, where browsers open it, and who asks and downloads.
public struct LinkShareState: Hashable, Sendable {
    /// `http://ADDRESS:PORT/` for each address of this device (the first as a QR code).
    public var links: [String]
    public var files: [String]
    public var folders: [String]
    public var totalBytes: Int64
    /// The PIN browsers must give, if any.
    public var pin: String?
    /// Every browser is let in without asking.
    public var approveEveryone: Bool
    /// Browsers waiting for an answer, oldest first.
    public var waiting: [BrowserAsk] = []
    /// Addresses let in (until the share stops).
    public var approved: [String] = []
    /// Addresses turned away.
    public var declined: [String] = []
    /// Downloads, newest first (at most `ShareDownload.limit`).
    public var downloads: [ShareDownload] = []
    /// How many wrong PINs were given to the share.
    public var wrongPins = 0
    /// Whether PIN checks are locked for a while after the latest wrong one.
    public var pinLocked = false

    /// The link to show as a QR code.
    public var primaryLink: String? { links.first }
    /// Downloads that sent everything they asked for.
    public var completedDownloads: Int { downloads.filter(\.complete).count }

    /// At most this many downloads are kept in the list.
    public static let downloadLimit = 100
    /// At most this many browsers wait (Ferry declines the rest after two minutes anyway).
    public static let waitingLimit = 32

    mutating func apply(_ update: ShareUpdate) {
        switch update {
        case let .browserApproved(address):
            waiting.removeAll { $0.address == address }
            if !approved.contains(address) { approved.append(address) }
            declined.removeAll { $0 == address }
        case let .browserDeclined(address):
            waiting.removeAll { $0.address == address }
            if !declined.contains(address), declined.count < Self.waitingLimit { declined.append(address) }
        case let .downloadStarted(address, fileId, name, offset, size):
            let id = "\(address) \(fileId)"
            downloads.removeAll { $0.id == id }
            downloads.insert(ShareDownload(id: id, address: address, name: name, sent: offset, size: size, finished: false,
                                           complete: false), at: 0)
            if downloads.count > Self.downloadLimit { downloads.removeLast(downloads.count - Self.downloadLimit) }
        case let .downloadProgress(address, fileId, sent, size):
            guard let i = downloads.firstIndex(where: { $0.id == "\(address) \(fileId)" && !$0.finished }) else { return }
            downloads[i].sent = sent
            downloads[i].size = size
        case let .downloadFinished(address, fileId, sent, complete):
            guard let i = downloads.firstIndex(where: { $0.id == "\(address) \(fileId)" && !$0.finished }) else { return }
            downloads[i].sent = sent
            downloads[i].finished = true
            downloads[i].complete = complete
        case let .pinFailed(_, lockedSecs):
            wrongPins += 1
            pinLocked = lockedSecs != nil
        }
    }

    mutating func asked(_ request: BrowserRequest) {
        guard !waiting.contains(where: { $0.id == request.id }) else { return }
        if waiting.count >= Self.waitingLimit { waiting.removeFirst() }
        waiting.append(BrowserAsk(id: request.id, address: request.address, userAgent: request.userAgent, askedAt: .now))
    }
}

/// Called on Ferry's threads: only hands the event on.
final class ShareEvents: ShareListener {
    private let generation: Int
    private let share: Int
    private let sink: AsyncStream<Event>.Continuation

    init(generation: Int, share: Int, sink: AsyncStream<Event>.Continuation) {
        self.generation = generation
        self.share = share
        self.sink = sink
    }

    func onBrowser(request: BrowserRequest) { sink.yield(.share(generation: generation, share: share, .browser(request))) }
    func onShare(update: ShareUpdate) { sink.yield(.share(generation: generation, share: share, .update(update))) }
}

enum ShareMessage: Sendable {
    case browser(BrowserRequest)
    case update(ShareUpdate)
}
