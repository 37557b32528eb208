import FerryOutbox
import Foundation

/// The transfers running now, kept on disk (`running.json`, written atomically at each start and
/// end, never for progress). iOS may suspend or end the app before a cancelled transfer has
/// reported its end; what is still listed at the next launch went that way, and goes into the
/// history as interrupted (Ferry's node removes the partial files such a receive left when it
/// starts).
///
/// Not thread-safe: its owner (the main-actor `FerryModel`) serializes the calls.
final class TransferJournal {
    struct Entry: Codable, Equatable {
        var id: String
        var direction: Direction
        var peerAlias: String
        var peerFingerprint: String?
        var fileNames: [String]
        var startedAt: Date
    }

    /// More running transfers than this are not kept (the list is written at each start and end).
    static let limit = 64

    let url: URL
    private(set) var entries: [Entry]

    init(url: URL) {
        self.url = url
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        entries = (try? Data(contentsOf: url)).flatMap { try? decoder.decode([Entry].self, from: $0) } ?? []
    }

    func add(_ transfer: Transfer) {
        entries.removeAll { $0.id == transfer.id }
        guard entries.count < Self.limit else { return }
        entries.append(Entry(id: transfer.id, direction: transfer.direction, peerAlias: transfer.peerAlias,
                             peerFingerprint: transfer.peerFingerprint, fileNames: Array(transfer.fileNames.prefix(100)),
                             startedAt: transfer.startedAt))
        save()
    }

    func remove(_ id: String) {
        guard entries.contains(where: { $0.id == id }) else { return }
        entries.removeAll { $0.id == id }
        save()
    }

    /// What an earlier run left, emptied.
    func takeLeftovers() -> [Entry] {
        let left = entries
        if !left.isEmpty {
            entries = []
            save()
        }
        return left
    }

    private func save() {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        do {
            try writeAtomically(try encoder.encode(entries), to: url)
        } catch {
            // Not fatal: the transfers run either way; only an interruption may go unrecorded.
        }
    }
}

/// Whether the system lets Ferry reach the local network (iOS asks the user once; the app finds
/// out with a Bonjour browse, see `FerryModel.reportLocalNetwork(_:)`).
public enum LocalNetworkAccess: Sendable {
    case unknown, granted, denied
}

/// What the nearby list says when it shows no device.
public enum NearbyStatus: Equatable, Sendable {
    /// Devices are listed.
    case found
    /// Discovery has not been held for `NetworkOptions.searchPatience` yet.
    case looking
    /// Nothing was found for a while: say what to check (same Wi-Fi, Ferry or LocalSend open on
    /// the other device, Local Network allowed), and offer adding a device by address.
    case nothingFound
    /// The system refuses Ferry the local network: say where to allow it.
    case localNetworkDenied
}

/// Turns "how long discovery has been held, what was found, what the system said" into what the
/// nearby list shows, so that it never says "Looking for devices" for ever.
public struct NearbySearch: Sendable, Equatable {
    public var patience: Duration
    /// When discovery was held, while it is.
    public private(set) var since: ContinuousClock.Instant?

    public init(patience: Duration) {
        self.patience = patience
    }

    public mutating func started(at now: ContinuousClock.Instant) {
        if since == nil { since = now }
    }

    public mutating func stopped() {
        since = nil
    }

    /// `online`: devices found now (favorites that are away do not count).
    public func status(online: Int, access: LocalNetworkAccess, at now: ContinuousClock.Instant) -> NearbyStatus {
        if access == .denied { return .localNetworkDenied }
        if online > 0 { return .found }
        guard let since, now - since >= patience else { return .looking }
        return .nothingFound
    }
}
