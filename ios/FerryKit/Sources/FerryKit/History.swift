import FerryOutbox
import Foundation

public enum HistoryOutcome: String, Codable, Sendable {
    case done, partial, failed, cancelled, declined
}

/// A file of a finished transfer.
public struct HistoryFile: Codable, Hashable, Sendable {
    public var name: String
    public var size: Int64
    /// Where a received file was saved: a path relative to the receive directory (the app's
    /// container moves between installs), or an absolute path outside it. Resolve it with
    /// `FerryModel.fileURL(for:)`.
    public var location: String?

    public init(name: String, size: Int64, location: String?) {
        self.name = name
        self.size = size
        self.location = location
    }
}

public struct HistoryEntry: Codable, Identifiable, Hashable, Sendable {
    public var id: String
    public var direction: Direction
    public var peerAlias: String
    public var peerFingerprint: String?
    public var files: [HistoryFile]
    public var bytes: Int64
    public var outcome: HistoryOutcome
    public var message: String?
    public var date: Date
    /// A text message instead of files.
    public var text: String?

    public init(id: String, direction: Direction, peerAlias: String, peerFingerprint: String?, files: [HistoryFile],
                bytes: Int64, outcome: HistoryOutcome, message: String?, date: Date, text: String? = nil) {
        self.id = id
        self.direction = direction
        self.peerAlias = peerAlias
        self.peerFingerprint = peerFingerprint
        self.files = files
        self.bytes = bytes
        self.outcome = outcome
        self.message = message
        self.date = date
        self.text = text
    }
}

/// The history, newest first, kept in a JSON array written atomically and capped at `limit`
/// entries. An entry that cannot be read (damaged, or from a newer version) is skipped, not fatal.
///
/// Not thread-safe: its owner (the main-actor `FerryModel`) serializes the calls.
public final class HistoryStore {
    public let url: URL
    public let limit: Int
    public private(set) var entries: [HistoryEntry]

    public init(url: URL, limit: Int = 500) {
        self.url = url
        self.limit = limit
        // `HistoryStore`, not `Self`: a closure using the dynamic `Self` would capture `self`
        // before `entries` is initialized.
        let loaded = (try? Data(contentsOf: url)).flatMap { try? HistoryStore.decoder.decode([Lossy].self, from: $0) } ?? []
        entries = Array(loaded.compactMap(\.entry).prefix(limit))
    }

    /// Adds an entry at the top. The entries change even when saving fails (it throws then); the
    /// next successful save writes them all.
    @discardableResult
    public func add(_ entry: HistoryEntry) throws -> [HistoryEntry] {
        entries.removeAll { $0.id == entry.id }
        entries.insert(entry, at: 0)
        if entries.count > limit { entries.removeLast(entries.count - limit) }
        try save()
        return entries
    }

    @discardableResult
    public func remove(id: String) throws -> [HistoryEntry] {
        let before = entries.count
        entries.removeAll { $0.id == id }
        if entries.count != before { try save() }
        return entries
    }

    @discardableResult
    public func clear() throws -> [HistoryEntry] {
        entries.removeAll()
        try save()
        return entries
    }

    private func save() throws {
        try writeAtomically(try Self.encoder.encode(entries), to: url)
    }

    private static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .millisecondsSince1970
        return e
    }

    private static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .millisecondsSince1970
        return d
    }

    /// One element of the array, nil when it cannot be read.
    private struct Lossy: Decodable {
        let entry: HistoryEntry?

        init(from decoder: any Decoder) throws {
            entry = try? HistoryEntry(from: decoder)
        }
    }
}
