// FerryOutbox: the hand-off between the share extension and the app. Foundation only: the share
// extension links this module alone, never the Ferry library (FerryCore) nor FerryKit.
import Foundation

/// A file waiting in the outbox.
public struct OutboxFile: Hashable, Sendable {
    /// What the receiver sees.
    public var name: String
    public var url: URL
}

/// What the share extension handed to the app: files and/or text, to send to a device the user
/// picks in the app.
public struct OutboxBatch: Identifiable, Hashable, Sendable {
    public var id: UUID
    public var created: Date
    public var files: [OutboxFile]
    public var text: String?
    /// The batch's folder (`Outbox/<id>/`).
    public var directory: URL
}

public enum OutboxError: LocalizedError, Equatable, Sendable {
    case empty
    case noAppGroup

    public var errorDescription: String? {
        switch self {
        case .empty: "There is nothing to share."
        case .noAppGroup: "Ferry's shared folder is missing (App Group \(SharedOutbox.appGroupIdentifier))."
        }
    }
}

/// The hand-off between the share extension and the app, in the App Group's container:
///
///     Outbox/<uuid>/manifest.json   {id, created, files: [{name, path}], text?}
///     Outbox/<uuid>/<n>/<name>      each file in a folder of its own, so that names never clash
///
/// The manifest is written last (atomically): a folder without one is unfinished and is left
/// out (and cleaned up once it is a day old). The extension calls `enqueue`; the app reads
/// `pending()` and calls `remove` once a batch was sent or given up.
public struct SharedOutbox: Sendable {
    public static let appGroupIdentifier = "group.app.ferry"

    /// `<container>/Outbox`.
    public let root: URL

    public init(_ containerURL: URL) {
        root = containerURL.appending(path: "Outbox", directoryHint: .isDirectory)
    }

    /// The outbox in the App Group's container; nil when the group is not configured (entitlements),
    /// and where there are no App Groups (Linux, where FerryKit's tests run).
    public static func appGroup() -> SharedOutbox? {
        #if canImport(Darwin)
        FileManager.default.containerURL(forSecurityApplicationGroupIdentifier: appGroupIdentifier).map(SharedOutbox.init)
        #else
        nil
        #endif
    }

    /// A fresh folder inside the container to stage files in before `enqueue(items:text:moving:)`
    /// (on the same volume, so that moving them is a rename). The caller removes it.
    public func makeStagingDirectory() throws -> URL {
        let dir = root.appending(path: ".staging-\(UUID().uuidString)", directoryHint: .isDirectory)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Puts `items` (files or folders, copied, or moved when `moving`) and `text` into a new batch.
    /// Nothing is read into memory: copies are made by the file system (clones on APFS).
    @discardableResult
    public func enqueue(items: [URL], text: String? = nil, moving: Bool = false) throws -> OutboxBatch {
        let text = text.flatMap { $0.isEmpty ? nil : $0 }
        guard !items.isEmpty || text != nil else { throw OutboxError.empty }
        let fm = FileManager.default
        let id = UUID()
        let dir = root.appending(path: id.uuidString, directoryHint: .isDirectory)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        do {
            var files: [Manifest.File] = []
            for (index, source) in items.enumerated() {
                let name = Self.safeName(source.lastPathComponent)
                let slot = dir.appending(path: String(index), directoryHint: .isDirectory)
                try fm.createDirectory(at: slot, withIntermediateDirectories: true)
                let destination = slot.appending(path: name, directoryHint: .notDirectory)
                // Moving is a rename on the same volume; anything else is copied.
                let moved = moving && (try? fm.moveItem(at: source, to: destination)) != nil
                if !moved { try fm.copyItem(at: source, to: destination) }
                files.append(Manifest.File(name: name, path: "\(index)/\(name)"))
            }
            // Whole seconds, as the manifest keeps them.
            let created = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
            let manifest = Manifest(id: id.uuidString, created: created, files: files, text: text)
            try writeAtomically(try Self.encoder.encode(manifest), to: dir.appending(path: Self.manifestName))
            return OutboxBatch(id: id, created: created, files: files.map { OutboxFile(name: $0.name, url: dir.appending(path: $0.path)) },
                               text: text, directory: dir)
        } catch {
            try? fm.removeItem(at: dir)
            throw error
        }
    }

    /// The finished batches, oldest first. Unfinished ones older than a day are removed.
    public func pending() -> [OutboxBatch] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: root.path(percentEncoded: false)) else { return [] }
        var batches: [OutboxBatch] = []
        for name in names {
            // Built as `enqueue` builds it, so that a batch read back equals the one enqueued.
            let dir = root.appending(path: name, directoryHint: .isDirectory)
            if let batch = read(dir) {
                batches.append(batch)
            } else if let created = try? dir.resourceValues(forKeys: [.creationDateKey]).creationDate,
                      created < Date(timeIntervalSinceNow: -86_400) {
                try? fm.removeItem(at: dir)
            }
        }
        return batches.sorted { $0.created < $1.created }
    }

    public func batch(id: UUID) -> OutboxBatch? {
        read(root.appending(path: id.uuidString, directoryHint: .isDirectory))
    }

    /// Removes a batch and its files.
    public func remove(_ batch: OutboxBatch) throws {
        let dir = root.appending(path: batch.id.uuidString, directoryHint: .isDirectory)
        guard FileManager.default.fileExists(atPath: dir.path(percentEncoded: false)) else { return }
        try FileManager.default.removeItem(at: dir)
    }

    private func read(_ dir: URL) -> OutboxBatch? {
        guard let id = UUID(uuidString: dir.lastPathComponent),
              let data = try? Data(contentsOf: dir.appending(path: Self.manifestName)),
              let manifest = try? Self.decoder.decode(Manifest.self, from: data),
              manifest.id == id.uuidString else { return nil }
        let files = manifest.files.compactMap { f -> OutboxFile? in
            // Paths stay inside the batch's folder.
            let parts = f.path.split(separator: "/")
            guard !parts.isEmpty, !parts.contains(where: { $0 == ".." || $0 == "." }) else { return nil }
            return OutboxFile(name: f.name, url: dir.appending(path: f.path))
        }
        return OutboxBatch(id: id, created: manifest.created, files: files, text: manifest.text, directory: dir)
    }

    /// A name usable as one path component.
    static func safeName(_ name: String) -> String {
        var cleaned = name.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "_")
        while cleaned.hasPrefix(".") { cleaned.removeFirst() }
        return cleaned.isEmpty ? "file" : cleaned
    }

    private static let manifestName = "manifest.json"

    private struct Manifest: Codable {
        struct File: Codable {
            var name: String
            /// Relative to the batch's folder.
            var path: String
        }

        var id: String
        var created: Date
        var files: [File]
        var text: String?
    }

    private static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }

    private static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

/// Writes `data` to a temporary file next to `url` and renames it over `url`, so that a crash
/// never leaves half a file.
/// (Package-wide: FerryKit writes its files so too.)
package func writeAtomically(_ data: Data, to url: URL) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try data.write(to: url, options: .atomic)
}
