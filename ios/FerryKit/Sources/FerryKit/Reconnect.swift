import Foundation

/// What the system says about the network (on iOS from `NWPathMonitor`): whether a path is usable,
/// and over which interfaces (their names, e.g. "en0").
public struct NetworkPath: Equatable, Sendable {
    public var satisfied: Bool
    public var interfaces: [String]

    public init(satisfied: Bool, interfaces: [String]) {
        self.satisfied = satisfied
        self.interfaces = interfaces
    }
}

/// Decides when running sends should reconnect at once instead of waiting out Ferry's back-off
/// (which grows to 4 s between tries): when the network comes back (a usable path after none),
/// when it changes (another Wi-Fi, an interface came or went), and when the app comes to the
/// front (iOS may have suspended it through a break).
public struct ReconnectTrigger: Equatable, Sendable {
    private var last: NetworkPath?

    public init() {}

    /// A new path report. True when sends should retry now. The first report only says how
    /// things are (nothing came back).
    public mutating func pathChanged(_ path: NetworkPath) -> Bool {
        defer { last = path }
        guard path.satisfied, let last else { return false }
        return !last.satisfied || Set(last.interfaces) != Set(path.interfaces)
    }

    /// The app came to the front. True when sends should retry now: unless the last report said
    /// there is no usable network (then the path's return does it).
    public func cameToForeground() -> Bool {
        last?.satisfied ?? true
    }
}

/// The local notification for files saved without asking (quick save from a trusted device or
/// from everyone): "Saved 3 files from Anna's iPhone", the sender's alias made safe to show.
public struct QuickSaveNotice: Hashable, Sendable {
    /// The transfer's id (also the history entry's): a notification per transfer.
    public var id: String
    public var title: String
    /// The files' names, made safe: "photo.jpg, notes.txt and 1 more".
    public var body: String
    public var fileCount: Int

    /// The notice for a finished receive that saved files; nil when none was saved.
    public init?(_ entry: HistoryEntry) {
        guard entry.direction == .receive, !entry.files.isEmpty else { return nil }
        id = entry.id
        fileCount = entry.files.count
        let what = fileCount == 1 ? "1 file" : "\(fileCount) files"
        title = "Saved \(what) from \(shownName(entry.peerAlias))"
        let names = entry.files.prefix(2).map { shownName($0.name) }.joined(separator: ", ")
        body = fileCount > 2 ? "\(names) and \(fileCount - 2) more" : names
    }
}
