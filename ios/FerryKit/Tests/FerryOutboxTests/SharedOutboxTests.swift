// FerryOutbox alone (the module the share extension links): no Ferry library, no FerryKit.
import XCTest
@testable import FerryOutbox

final class SharedOutboxTests: XCTestCase {
    func testSharedOutboxRoundTrip() throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "ferry-outbox-\(UUID().uuidString)", directoryHint: .isDirectory)
        defer { try? FileManager.default.removeItem(at: root) }
        let outbox = SharedOutbox(root.appending(path: "container", directoryHint: .isDirectory))
        XCTAssertEqual(outbox.pending(), [])

        // Two files of the same name, a folder, and a name that is no path.
        let a = root.appending(path: "a", directoryHint: .isDirectory)
        let b = root.appending(path: "b", directoryHint: .isDirectory)
        let folder = root.appending(path: "Album", directoryHint: .isDirectory)
        for dir in [a, b, folder] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        try Data("first".utf8).write(to: a.appending(path: "IMG 0001.HEIC"))
        try Data("second".utf8).write(to: b.appending(path: "IMG 0001.HEIC"))
        try Data("inside".utf8).write(to: folder.appending(path: "inside.txt"))

        let batch = try outbox.enqueue(items: [a.appending(path: "IMG 0001.HEIC"), b.appending(path: "IMG 0001.HEIC"), folder],
                                       text: "https://example.com/a?b=c")
        XCTAssertEqual(batch.files.map(\.name), ["IMG 0001.HEIC", "IMG 0001.HEIC", "Album"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: a.appending(path: "IMG 0001.HEIC").path(percentEncoded: false)), "copied")

        let pending = outbox.pending()
        XCTAssertEqual(pending, [batch])
        XCTAssertEqual(outbox.batch(id: batch.id), batch)
        XCTAssertEqual(pending[0].text, "https://example.com/a?b=c")
        XCTAssertEqual(try Data(contentsOf: pending[0].files[0].url), Data("first".utf8))
        XCTAssertEqual(try Data(contentsOf: pending[0].files[1].url), Data("second".utf8))
        XCTAssertEqual(try Data(contentsOf: pending[0].files[2].url.appending(path: "inside.txt")), Data("inside".utf8))

        // Staged files are moved, not copied; a text alone is a batch too.
        let staging = try outbox.makeStagingDirectory()
        let staged = staging.appending(path: "note.txt")
        try Data("moved".utf8).write(to: staged)
        let moved = try outbox.enqueue(items: [staged], moving: true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: staged.path(percentEncoded: false)))
        XCTAssertEqual(try Data(contentsOf: moved.files[0].url), Data("moved".utf8))
        let textOnly = try outbox.enqueue(items: [], text: "just text")
        XCTAssertEqual(textOnly.files, [])
        XCTAssertThrowsError(try outbox.enqueue(items: [], text: "")) { XCTAssertEqual($0 as? OutboxError, .empty) }

        // An unfinished batch (no manifest) is left out.
        try FileManager.default.createDirectory(at: outbox.root.appending(path: UUID().uuidString), withIntermediateDirectories: true)
        XCTAssertEqual(Set(outbox.pending().map(\.id)), [batch.id, moved.id, textOnly.id])

        try outbox.remove(batch)
        try outbox.remove(moved)
        try outbox.remove(textOnly)
        XCTAssertEqual(outbox.pending(), [])
        XCTAssertNil(outbox.batch(id: batch.id))
    }

    func testThereIsNoAppGroupOffApplePlatforms() {
        #if !canImport(Darwin)
        XCTAssertNil(SharedOutbox.appGroup())
        #endif
        XCTAssertEqual(SharedOutbox.safeName("../.hidden:name"), "_.hidden_name")
    }
}
