// FerryKit against the real bindings and library: two models (two real nodes) on 127.0.0.1 in
// one process, discovery off, any free port, temporary folders. Run on Linux by
// `make test-swift` (scripts/swift.sh), or with `swift test` in ios/FerryKit on a Mac, after
// `make ios-xcframework` (which builds the macOS slices too).
import XCTest
@testable import FerryKit
#if canImport(Glibc)
import Glibc
#endif

/// A peer that closes its socket must not kill the process: on Linux a write to such a socket
/// raises SIGPIPE unless it is ignored (Apple platforms set SO_NOSIGPIPE on every socket, and
/// the JVM and Rust's own programs ignore it). The test process is an ordinary C program there.
func ignoreSigpipe() {
    #if canImport(Glibc)
    signal(SIGPIPE, SIG_IGN)
    #endif
}

/// An address where nothing answers: a loopback port that is closed (the tests may run where
/// only loopback is up).
let closedAddress = "127.0.0.1:1"

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls until `probe` gives a value (the model changes on the main actor, between polls).
@MainActor
func eventually<T>(_ what: String, timeout: Duration = .seconds(30), _ probe: () -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = probe() { return value }
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(5))
    }
}

@MainActor
func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws {
    _ = try await eventually(what, timeout: timeout) { condition() ? true : nil }
}

/// Temporary folders and the models made in them; `close()` stops and removes everything.
@MainActor
final class Harness {
    let root: URL
    private var models: [FerryModel] = []

    init() throws {
        root = FileManager.default.temporaryDirectory.appending(path: "ferry-kit-\(UUID().uuidString)", directoryHint: .isDirectory)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func model(_ name: String, searchPatience: Duration = .seconds(15)) throws -> FerryModel {
        let model = FerryModel(
            paths: FerryPaths(dataDirectory: root.appending(path: name, directoryHint: .isDirectory), receiveDirectory: inbox(name)),
            device: DeviceInfo(defaultAlias: name, model: "XCTest", kind: .desktop),
            network: NetworkOptions(discovery: false, bindAddress: "127.0.0.1", scanLinger: .zero, searchPatience: searchPatience)
        )
        if model.settings.port != 0 { try model.updateSettings { $0.port = 0 } }
        models.append(model)
        return model
    }

    @discardableResult
    func running(_ model: FerryModel) async throws -> (fingerprint: String, port: Int) {
        let state = await model.start()
        guard case let .running(fingerprint, port) = state else {
            XCTFail("node did not start: \(state)")
            throw TimedOut(what: "a node")
        }
        return (fingerprint, port)
    }

    /// `other` as `model` finds it by address. A settings change may be restarting `other`'s node:
    /// its start is awaited first.
    func find(_ other: FerryModel, from model: FerryModel) async throws -> NearbyDevice {
        let state = await other.start()
        let port = try XCTUnwrap(state.port, "\(state)")
        return try await model.addByAddress("127.0.0.1:\(port)")
    }

    func inbox(_ name: String) -> URL {
        root.appending(path: "\(name)-inbox", directoryHint: .isDirectory)
    }

    /// A file of `size` random bytes, written in chunks.
    func file(_ name: String, size: Int) throws -> URL {
        let url = root.appending(path: "out", directoryHint: .isDirectory).appending(path: name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path(percentEncoded: false), contents: nil))
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var generator = SystemRandomNumberGenerator()
        var left = size
        while left > 0 {
            let count = min(left, 1 << 20)
            var words = [UInt64](repeating: 0, count: (count + 7) / 8)
            for i in words.indices { words[i] = generator.next() }
            try handle.write(contentsOf: words.withUnsafeBytes { Data($0.prefix(count)) })
            left -= count
        }
        return url
    }

    /// A sparse file of `size` bytes (nothing written).
    func sparseFile(_ name: String, size: UInt64) throws -> URL {
        let url = root.appending(path: "out", directoryHint: .isDirectory).appending(path: name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path(percentEncoded: false), contents: nil))
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.truncate(atOffset: size)
        return url
    }

    func received(_ name: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: inbox(name).path(percentEncoded: false))) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    func close() {
        for model in models {
            model.cancelAll()
            model.stop()
        }
        models.removeAll()
        try? FileManager.default.removeItem(at: root)
    }
}

/// Collects a transfer's `bytesDone` as it changes.
@MainActor
final class ProgressSamples {
    private(set) var values: [Int64] = []
    private var task: Task<Void, Never>?

    func watch(_ model: FerryModel, transfer id: String) {
        task = Task { [weak self] in
            while !Task.isCancelled {
                if let done = model.transfers.first(where: { $0.id == id })?.bytesDone, self?.values.last != done {
                    self?.values.append(done)
                }
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    func stop() {
        task?.cancel()
    }
}

extension FerryModel {
    func finished(_ id: String) async throws -> Transfer {
        try await eventually("transfer \(id) to end") { transfers.first { $0.id == id && $0.state.isFinished } }
    }

    func firstRequest() async throws -> PendingRequest {
        try await eventually("a request") { requests.first }
    }
}

final class FerryModelTests: XCTestCase {
    override func setUp() {
        super.setUp()
        ignoreSigpipe()
    }

    @MainActor
    func testSeveralFilesAreAskedAboutAcceptedWithProgressAndRecorded() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        let rxNode = try await h.running(rx)
        let txNode = try await h.running(tx)
        let small = try h.file("a.txt", size: 1000)
        let big = try h.file("big.bin", size: 64 << 20)
        let odd = try h.file("naïve café, 1 of 2 (copy).jpg", size: 70_000)

        let device = try await h.find(rx, from: tx)
        XCTAssertEqual(device.alias, "Receiver")
        XCTAssertEqual(device.kind, .desktop)
        XCTAssertTrue(device.verified && device.online)

        let id = try tx.send(to: device, items: [.file(small), .file(big), .file(odd)])
        XCTAssertEqual(tx.transfers.first?.state, .waiting)
        let samples = ProgressSamples()
        samples.watch(tx, transfer: id)
        defer { samples.stop() }

        let request = try await rx.firstRequest()
        XCTAssertEqual(request.senderAlias, "Sender")
        XCTAssertEqual(request.senderFingerprint, txNode.fingerprint)
        XCTAssertTrue(request.verified)
        XCTAssertFalse(request.trusted)
        XCTAssertEqual(request.verificationCode, rx.verificationCode(txNode.fingerprint))
        XCTAssertEqual(request.verificationCode, tx.verificationCode(rxNode.fingerprint), "both users see the same code")
        XCTAssertEqual(request.files.map(\.name).sorted(), ["a.txt", "big.bin", "naïve café, 1 of 2 (copy).jpg"])
        XCTAssertEqual(request.totalSize, 1000 + (64 << 20) + 70_000)

        try rx.accept(request.sessionId)
        XCTAssertTrue(rx.requests.isEmpty)
        let sent = try await tx.finished(id)
        XCTAssertEqual(sent.state, .done, "\(sent)")
        XCTAssertEqual(sent.filesDone, 3)
        XCTAssertEqual(sent.bytesDone, request.totalSize)
        let got = try await eventually("the receive to end") { rx.transfers.first { $0.direction == .receive && $0.state.isFinished } }
        XCTAssertEqual(got.state, .done)
        XCTAssertEqual(got.bytesDone, request.totalSize)
        samples.stop()

        for url in [small, big, odd] {
            let copy = h.inbox("Receiver").appending(path: url.lastPathComponent)
            XCTAssertEqual(try Data(contentsOf: copy), try Data(contentsOf: url), url.lastPathComponent)
        }

        // Progress reached the model in order, up to the whole size, with steps in between.
        XCTAssertEqual(samples.values, samples.values.sorted(), "progress never goes back")
        XCTAssertEqual(samples.values.last, request.totalSize)
        XCTAssertTrue(samples.values.contains { $0 > 0 && $0 < request.totalSize }, "an intermediate step: \(samples.values)")

        // A finished transfer is in the history on both sides.
        let entry = try XCTUnwrap(rx.history.first)
        XCTAssertEqual(entry.id, got.id)
        XCTAssertEqual(entry.direction, .receive)
        XCTAssertEqual(entry.outcome, .done)
        XCTAssertEqual(entry.peerAlias, "Sender")
        XCTAssertEqual(entry.files.map(\.name).sorted(), ["a.txt", "big.bin", "naïve café, 1 of 2 (copy).jpg"])
        for file in entry.files {
            XCTAssertNotNil(rx.fileURL(for: file), "\(file.name) is found from the history")
            XCTAssertFalse(file.location?.hasPrefix("/") ?? true, "stored relative to the receive folder: \(file.location ?? "-")")
        }
        let sentEntry = try XCTUnwrap(tx.history.first)
        XCTAssertEqual(sentEntry.id, id)
        XCTAssertEqual(sentEntry.direction, .send)
        XCTAssertEqual(sentEntry.outcome, .done)
        XCTAssertEqual(sentEntry.files.map(\.name), ["a.txt", "big.bin", "naïve café, 1 of 2 (copy).jpg"])
        XCTAssertEqual(sentEntry.files.map(\.size), [1000, 64 << 20, 70_000])
    }

    @MainActor
    func testSomeFilesAcceptedThenADecline() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        try await h.running(rx)
        try await h.running(tx)
        let files = try ["one.txt", "two.txt", "three.txt"].enumerated().map { index, name in
            try h.file(name, size: 10 * (index + 1))
        }
        let device = try await h.find(rx, from: tx)

        let id = try tx.send(to: device, items: files.map(OutgoingItem.file))
        let request = try await rx.firstRequest()
        let two = try XCTUnwrap(request.files.first { $0.name == "two.txt" })
        try rx.accept(request.sessionId, fileIDs: [two.id])
        let sent = try await tx.finished(id)
        XCTAssertEqual(sent.state, .done)
        XCTAssertEqual(sent.filesDone, 1)
        XCTAssertEqual(tx.history.first?.outcome, .partial)
        try await eventually("the receive to end") { rx.transfers.contains { $0.state == .done } }
        XCTAssertEqual(h.received("Receiver"), ["two.txt"])

        let id2 = try tx.send(to: device, items: files.map(OutgoingItem.file))
        let request2 = try await rx.firstRequest()
        try rx.decline(request2.sessionId)
        XCTAssertTrue(rx.requests.isEmpty)
        let declined = try await tx.finished(id2)
        XCTAssertEqual(declined.state, .declined, "\(declined)")
        XCTAssertEqual(declined.errorKind, ErrorKinds.declined)
        XCTAssertEqual(tx.history.first?.outcome, .declined, "a finished transfer is in the history")
        let entry = try await eventually("the decline in the history") { rx.history.first { $0.outcome == .declined } }
        XCTAssertEqual(entry.files.count, 3)
    }

    @MainActor
    func testCancelledBySenderAndByReceiverLeavesNoFile() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        try await h.running(rx)
        try await h.running(tx)
        try rx.updateSettings { $0.quickSave = .everyone }
        let huge = try h.sparseFile("huge.bin", size: 1 << 30)
        let device = try await h.find(rx, from: tx)

        let id = try tx.send(to: device, items: [.file(huge)])
        try await eventually("bytes moving") { (tx.transfers.first { $0.id == id }?.bytesDone ?? 0) > 0 }
        tx.cancel(id)
        let cancelled = try await tx.finished(id)
        XCTAssertEqual(cancelled.state, .cancelled, "\(cancelled)")
        XCTAssertLessThan(cancelled.bytesDone, 1 << 30)
        let got = try await eventually("the receiver to see the cancel") {
            rx.transfers.first { $0.direction == .receive && $0.state.isFinished }
        }
        XCTAssertEqual(got.state, .cancelled, "\(got)")
        XCTAssertEqual(h.received("Receiver"), [], "no partial file under the real name")
        XCTAssertEqual(rx.history.first?.outcome, .cancelled)
        XCTAssertEqual(tx.history.first?.outcome, .cancelled)

        rx.dismissFinished()
        XCTAssertTrue(rx.transfers.isEmpty)
        let id2 = try tx.send(to: device, items: [.file(huge)])
        let receiving = try await eventually("receiving") {
            rx.transfers.first { $0.direction == .receive && $0.bytesDone > 0 }
        }
        rx.cancel(receiving.id)
        let ended = try await rx.finished(receiving.id)
        XCTAssertEqual(ended.state, .cancelled)
        let failed = try await tx.finished(id2)
        XCTAssertTrue(failed.state == .cancelled || failed.state == .failed, "\(failed)")
        XCTAssertEqual(h.received("Receiver"), [])
    }

    @MainActor
    func testSettingsPersistAndApplyToTheNode() async throws {
        let h = try Harness()
        defer { h.close() }
        let first = try h.model("Receiver")
        XCTAssertEqual(first.settings.alias, "Receiver")
        XCTAssertEqual(first.settings.quickSave, .off)
        XCTAssertFalse(first.settings.saveMediaToPhotos)
        try await h.running(first)
        try first.updateSettings {
            $0.alias = "  Kitchen iPad "
            $0.pin = "4711"
            $0.quickSave = .everyone
            $0.deviceKind = .mobile
            $0.saveMediaToPhotos = true
            $0.favorites = [Favorite(fingerprint: String(repeating: "ab", count: 32), alias: "Desk", address: closedAddress, kind: .desktop)]
        }
        XCTAssertEqual(first.settings.alias, "Kitchen iPad", "trimmed")
        XCTAssertThrowsError(try first.updateSettings { $0.alias = " " }) { XCTAssertTrue($0 is SettingsError) }
        XCTAssertThrowsError(try first.updateSettings { $0.port = 80 })
        XCTAssertThrowsError(try first.updateSettings { $0.pin = "47 11" })
        XCTAssertEqual(first.settings.alias, "Kitchen iPad")
        first.stop()

        let again = try h.model("Receiver")
        XCTAssertEqual(again.settings.alias, "Kitchen iPad")
        XCTAssertEqual(again.settings.pin, "4711")
        XCTAssertEqual(again.settings.quickSave, .everyone)
        XCTAssertEqual(again.settings.deviceKind, .mobile)
        XCTAssertTrue(again.settings.saveMediaToPhotos)
        XCTAssertEqual(again.settings.favorites.map(\.alias), ["Desk"])
        XCTAssertEqual(again.devices.map(\.alias), ["Desk"], "a favorite is listed while it is away")
        XCTAssertFalse(again.devices[0].online)
        try again.setFavorite(String(repeating: "ab", count: 32), favorite: false)
        XCTAssertTrue(again.devices.isEmpty)
        try await h.running(again)

        let tx = try h.model("Sender")
        try await h.running(tx)
        let device = try await h.find(again, from: tx)
        XCTAssertEqual(device.alias, "Kitchen iPad")
        XCTAssertEqual(device.kind, .mobile)
        let f = try h.file("pinned.txt", size: 100)
        let noPin = try await tx.finished(try tx.send(to: device, items: [.file(f)]))
        XCTAssertEqual(noPin.errorKind, ErrorKinds.pinRequired, "\(noPin)")
        let withPin = try await tx.finished(try tx.send(to: device, items: [.file(f)], pin: "4711"))
        XCTAssertEqual(withPin.state, .done, "quick save from everyone: no request: \(withPin)")
        XCTAssertEqual(h.received("Receiver"), ["pinned.txt"])

        // A change the node was started with restarts it, on the same identity (once the receive
        // ended there too: a change made while receiving applies after it).
        _ = try await eventually("the receive to end") { again.transfers.first { $0.direction == .receive && $0.state.isFinished } }
        let before = again.nodeState.fingerprint
        try again.updateSettings { $0.alias = "Hall iPad" }
        let restarted = await again.start() // the restart's start, awaited
        XCTAssertEqual(restarted.fingerprint, before)
        let renamed = try await h.find(again, from: tx)
        XCTAssertEqual(renamed.alias, "Hall iPad")
    }

    @MainActor
    func testQuickSaveFromTrustedDevicesAndTheTrustedList() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        try await h.running(rx)
        let txNode = try await h.running(tx)
        try rx.updateSettings { $0.quickSave = .trusted }
        await rx.start() // the restart's start, awaited
        try rx.trust(txNode.fingerprint, alias: "Sender")
        XCTAssertEqual(rx.trusted.map(\.fingerprint), [txNode.fingerprint])
        XCTAssertEqual(rx.trusted.first?.verificationCode, rx.verificationCode(txNode.fingerprint))
        let f = try h.file("auto.txt", size: 10)
        let device = try await h.find(rx, from: tx)
        let quick = try await tx.finished(try tx.send(to: device, items: [.file(f)]))
        XCTAssertEqual(quick.state, .done, "\(quick)")
        XCTAssertTrue(rx.requests.isEmpty)

        // Quick save off: trusted devices are asked too. (Once the receive ended there too: a
        // change made while receiving applies after it.)
        _ = try await eventually("the receive to end") { rx.transfers.first { $0.direction == .receive && $0.state.isFinished } }
        try rx.updateSettings { $0.quickSave = .off }
        let device2 = try await h.find(rx, from: tx)
        let id = try tx.send(to: device2, items: [.file(f)])
        let request = try await rx.firstRequest()
        XCTAssertTrue(request.trusted)
        try rx.accept(request.sessionId)
        let asked = try await tx.finished(id)
        XCTAssertEqual(asked.state, .done, "\(asked)")

        try rx.untrust(txNode.fingerprint)
        XCTAssertTrue(rx.trusted.isEmpty)
    }

    @MainActor
    func testTextsAndARequestWithdrawnBySender() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        try await h.running(rx)
        try await h.running(tx)
        let device = try await h.find(rx, from: tx)

        let shown = try await tx.sendText(to: device, text: "hello from XCTest ✓")
        XCTAssertTrue(shown)
        let text = try await eventually("a text") { rx.texts.first }
        XCTAssertEqual(text.text, "hello from XCTest ✓")
        XCTAssertEqual(text.senderAlias, "Sender")
        XCTAssertTrue(text.verified)
        XCTAssertEqual(rx.history.first?.text, "hello from XCTest ✓")
        XCTAssertEqual(tx.history.first?.text, "hello from XCTest ✓")
        rx.dismissText(text.id)
        XCTAssertTrue(rx.texts.isEmpty)

        let id = try tx.send(to: device, items: [.file(try h.file("w.txt", size: 5))])
        _ = try await rx.firstRequest()
        tx.cancel(id)
        try await eventually("the request to close") { rx.requests.isEmpty }
        let entry = try await eventually("the withdrawal in the history") { rx.history.first { $0.outcome == .cancelled } }
        XCTAssertEqual(entry.files.map(\.name), ["w.txt"])
        let withdrawn = try await tx.finished(id)
        XCTAssertEqual(withdrawn.state, .cancelled, "\(withdrawn)")
    }

    @MainActor
    func testSendingFailsEarlyAndReleasesItsItems() async throws {
        let h = try Harness()
        defer { h.close() }
        let tx = try h.model("Sender")
        let temporary = try h.file("copy.jpg", size: 10)
        let nowhere = NearbyDevice(fingerprint: String(repeating: "cd", count: 32), alias: "Nowhere", kind: .mobile, model: nil,
                                   address: nil, verified: false, encryption: true, favorite: false, online: false)
        XCTAssertThrowsError(try tx.send(to: nowhere, items: [.temporary(temporary)])) {
            XCTAssertEqual($0 as? FerryModelError, .notRunning)
        }
        try await h.running(tx)
        let second = try h.file("copy2.jpg", size: 10)
        XCTAssertThrowsError(try tx.send(to: nowhere, items: [.temporary(second)])) {
            XCTAssertEqual($0 as? FerryModelError, .unreachable(alias: "Nowhere"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: temporary.path(percentEncoded: false)), "a temporary copy is removed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: second.path(percentEncoded: false)))
        XCTAssertTrue(tx.transfers.isEmpty)
    }

    @MainActor
    func testDiscoveryIsHeldUntilReleased() async throws {
        let h = try Harness()
        defer { h.close() }
        let model = try h.model("Sender")
        try await h.running(model)
        XCTAssertFalse(model.discovering)
        let hold = model.holdDiscovery()
        XCTAssertTrue(model.discovering)
        await model.rescan()
        hold.release()
        hold.release()
        try await eventually("discovery to end") { !model.discovering }
        var scoped: DiscoveryHold? = model.holdDiscovery()
        XCTAssertTrue(model.discovering)
        XCTAssertNotNil(scoped)
        scoped = nil
        try await eventually("a dropped hold to release") { !model.discovering }
    }

    @MainActor
    func testAWrongPinIsShownOnTheReceiverUntilDismissed() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        try rx.updateSettings { $0.pin = "4711" }
        try await h.running(rx)
        try await h.running(tx)
        XCTAssertNil(rx.pinWarning)
        let f = try h.file("guess.txt", size: 10)
        let device = try await h.find(rx, from: tx)

        let wrong = try await tx.finished(try tx.send(to: device, items: [.file(f)], pin: "1234"))
        XCTAssertEqual(wrong.errorKind, ErrorKinds.invalidPin, "\(wrong)")
        let warning = try await eventually("the receiver's PIN warning") { rx.pinWarning }
        XCTAssertEqual(warning.address, "127.0.0.1")
        XCTAssertEqual(warning.shownAddress, "127.0.0.1")
        XCTAssertEqual(warning.failures, 1)
        XCTAssertNil(warning.lockedUntil, "one wrong PIN locks nothing")
        XCTAssertFalse(warning.isLocked())
        XCTAssertTrue(rx.requests.isEmpty, "a wrong PIN is never asked about")
        XCTAssertEqual(h.received("Receiver"), [])
        XCTAssertNil(tx.pinWarning, "the sender is not warned about its own guess")

        rx.dismissPinWarning()
        XCTAssertNil(rx.pinWarning)
        // The right PIN warns of nothing.
        let id = try tx.send(to: device, items: [.file(f)], pin: "4711")
        let request = try await rx.firstRequest()
        try rx.accept(request.sessionId)
        let sent = try await tx.finished(id)
        XCTAssertEqual(sent.state, .done, "\(sent)")
        XCTAssertNil(rx.pinWarning)
    }

    @MainActor
    func testAPinLockIsShownUntilItEndsAndTheAddressIsMadeSafe() async throws {
        let h = try Harness()
        defer { h.close() }
        let model = try h.model("Receiver")
        let start = Date(timeIntervalSince1970: 1_000_000)
        model.pinFailed(ip: "10.0.0.7", failures: 6, lockedSeconds: 4, at: start)
        let locked = try XCTUnwrap(model.pinWarning)
        XCTAssertEqual(locked.failures, 6)
        XCTAssertEqual(locked.lockedUntil, start + 4)
        XCTAssertTrue(locked.isLocked(at: start))
        XCTAssertFalse(locked.isLocked(at: start + 4))

        // A later report without a lock (a trusted device's wrong PIN) keeps the running lock.
        model.pinFailed(ip: "10.0.0.8", failures: 7, lockedSeconds: nil, at: start + 2)
        XCTAssertEqual(model.pinWarning, PinWarning(address: "10.0.0.8", failures: 7, lockedUntil: start + 4, date: start + 2))
        // Once it is over it is not shown any more.
        model.pinFailed(ip: "1.2.3.4\u{202E}\n", failures: 8, lockedSeconds: nil, at: start + 5)
        let after = try XCTUnwrap(model.pinWarning)
        XCTAssertNil(after.lockedUntil)
        XCTAssertEqual(after.shownAddress, "1.2.3.4\\u{202e}\\n")
        // A lock longer than any clock can add stays a date in the future.
        model.pinFailed(ip: "10.0.0.9", failures: 9, lockedSeconds: .max, at: start + 5)
        XCTAssertGreaterThan(try XCTUnwrap(model.pinWarning?.lockedUntil), start + 5)
        model.dismissPinWarning()
        XCTAssertNil(model.pinWarning)
    }

    @MainActor
    func testAFolderWithAnEmptyFolderInsideIsAskedAboutWithItsFolderCount() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        try await h.running(rx)
        try await h.running(tx)
        let photo = try h.file("Album/photo.jpg", size: 500)
        let album = h.root.appending(path: "out/Album", directoryHint: .isDirectory)
        try FileManager.default.createDirectory(at: album.appending(path: "empty", directoryHint: .isDirectory), withIntermediateDirectories: false)
        let device = try await h.find(rx, from: tx)

        let id = try tx.send(to: device, items: [.file(album)])
        let request = try await rx.firstRequest()
        XCTAssertEqual(request.files.map(\.name), ["Album/photo.jpg"])
        XCTAssertEqual(request.emptyFolders, 1)
        XCTAssertEqual(request.totalSize, 500)
        try rx.accept(request.sessionId)
        let sent = try await tx.finished(id)
        XCTAssertEqual(sent.state, .done, "\(sent)")
        _ = try await eventually("the receive to end") { rx.transfers.first { $0.direction == .receive && $0.state.isFinished } }
        let inbox = h.inbox("Receiver")
        XCTAssertEqual(try Data(contentsOf: inbox.appending(path: "Album/photo.jpg")), try Data(contentsOf: photo))
        var isDirectory: ObjCBool = false
        let empty = inbox.appending(path: "Album/empty").path(percentEncoded: false)
        XCTAssertTrue(FileManager.default.fileExists(atPath: empty, isDirectory: &isDirectory) && isDirectory.boolValue, "the empty folder was made")
    }

    func testHistoryKeepsAnyNameIsCappedAndSurvivesDamage() throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "ferry-history-\(UUID().uuidString)", directoryHint: .isDirectory)
        defer { try? FileManager.default.removeItem(at: root) }
        let url = root.appending(path: "history.json")
        let store = HistoryStore(url: url, limit: 3)
        let odd = HistoryEntry(id: "x", direction: .receive, peerAlias: "Tab\tand\nnewline \"quoted\" ;,=/\\ 🚢", peerFingerprint: nil,
                               files: [HistoryFile(name: "a,b;c\td\u{0}.txt", size: 5, location: "sub dir/a%20b?.txt")],
                               bytes: 5, outcome: .done, message: nil, date: Date(timeIntervalSince1970: 1_700_000_000))
        try store.add(odd)
        XCTAssertEqual(HistoryStore(url: url, limit: 3).entries, [odd])

        for i in 0..<5 {
            var entry = odd
            entry.id = "e\(i)"
            try store.add(entry)
        }
        XCTAssertEqual(HistoryStore(url: url, limit: 3).entries.map(\.id), ["e4", "e3", "e2"])
        XCTAssertEqual(try store.remove(id: "e3").map(\.id), ["e4", "e2"])
        XCTAssertEqual(HistoryStore(url: url, limit: 3).entries.map(\.id), ["e4", "e2"])

        // An entry that cannot be read is skipped; the others stay.
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [Any])
        json.insert(["id": "broken", "outcome": "exploded"], at: 1)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        XCTAssertEqual(HistoryStore(url: url, limit: 3).entries.map(\.id), ["e4", "e2"])

        // A file that is no JSON at all is an empty history, not a crash.
        try Data("garbage".utf8).write(to: url)
        XCTAssertEqual(HistoryStore(url: url, limit: 3).entries, [])
        XCTAssertEqual(try store.clear(), [])
    }
}
