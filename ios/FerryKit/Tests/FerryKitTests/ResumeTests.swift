// Transfers that break and resume by themselves, files the receiver has already, and the notice
// for files saved without asking. Real nodes on loopback, a real break (Relay) in between.
import XCTest
@testable import FerryKit

final class ResumeTests: XCTestCase {
    override func setUp() {
        super.setUp()
        ignoreSigpipe()
    }

    @MainActor
    func testASendCutOffReconnectsWhenTheNetworkComesBackAndResumesWhereItStopped() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        try rx.updateSettings { $0.quickSave = .everyone }
        let rxNode = try await h.running(rx)
        try await h.running(tx)
        let relay = try Relay(to: rxNode.port)
        defer { relay.close() }
        let size = 48 << 20
        let movie = try h.file("movie.bin", size: size)

        // The receiver, reached through the relay (a favorite at that address, pinned).
        let device = NearbyDevice(fingerprint: rxNode.fingerprint, alias: "Receiver", kind: .desktop, model: nil,
                                  address: "127.0.0.1:\(relay.port)", verified: true, encryption: true, favorite: true, online: false)
        relay.cut(after: 20 << 20)
        let id = try tx.send(to: device, items: [.file(movie)])
        try await eventually("the cut") { relay.cuts == 1 }
        let broken = try await eventually("the sender to see the break") { tx.transfers.first { $0.id == id && $0.reconnecting } }
        XCTAssertEqual(broken.state, .running)
        XCTAssertEqual(broken.speedText(at: .now), "Reconnecting…")
        XCTAssertEqual(tx.retryNow(), 1, "a running send is asked to retry")

        // Ferry's back-off doubles from 0.25 s to 4 s between tries: after the 4th refused try the
        // next one is 4 s away. The network goes and comes back then (what NWPathMonitor reports):
        // the send tries again at once, well before those 4 s.
        tx.networkPathChanged(NetworkPath(satisfied: true, interfaces: ["en0"]))
        tx.networkPathChanged(NetworkPath(satisfied: false, interfaces: []))
        try await eventually("four refused tries") { relay.refused >= 4 }
        let accepted = relay.accepted
        let back = ContinuousClock.now
        relay.restore()
        tx.networkPathChanged(NetworkPath(satisfied: true, interfaces: ["en0"]))
        try await eventually("the sender to reconnect") { relay.accepted > accepted }
        XCTAssertLessThan(ContinuousClock.now - back, .seconds(2), "reconnected at once, not after the back-off")
        let sent = try await tx.finished(id)
        XCTAssertEqual(sent.state, .done, "\(sent)")
        XCTAssertFalse(sent.reconnecting)
        let resumedAt = try XCTUnwrap(sent.resumedAt, "the file continued where it stopped: \(sent)")
        XCTAssertGreaterThan(resumedAt, 0)
        XCTAssertLessThan(resumedAt, Int64(size))
        XCTAssertEqual(sent.resumedText, "Resumed at \(ByteText.size(resumedAt))")
        XCTAssertEqual(tx.history.first?.outcome, .done)

        let got = try await eventually("the receive to end") { rx.transfers.first { $0.direction == .receive && $0.state.isFinished } }
        XCTAssertEqual(got.state, .done, "\(got)")
        XCTAssertNotNil(got.resumedAt, "the receiver shows the resume too")
        XCTAssertEqual(got.bytesDone, Int64(size))
        XCTAssertEqual(try Data(contentsOf: h.inbox("Receiver").appending(path: "movie.bin")), try Data(contentsOf: movie))
        XCTAssertEqual(everything(in: h.inbox("Receiver")), ["movie.bin"], "no partial file left")
    }

    @MainActor
    func testFilesTheReceiverHasAreSkippedWithTheSetting() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        XCTAssertFalse(rx.settings.skipExisting, "off by default")
        try rx.updateSettings {
            $0.quickSave = .everyone
            $0.skipExisting = true
        }
        try await h.running(rx)
        try await h.running(tx)
        let photo = try h.file("photo.jpg", size: 5000)
        let device = try await h.find(rx, from: tx)

        let first = try await tx.finished(try tx.send(to: device, items: [.file(photo)]))
        XCTAssertEqual(first.state, .done, "\(first)")
        XCTAssertEqual(first.filesDone, 1)
        XCTAssertEqual(first.filesSkipped, 0)
        XCTAssertNil(first.skippedText)
        _ = try await eventually("the receive to end") { rx.transfers.first { $0.direction == .receive && $0.state.isFinished } }

        let second = try await tx.finished(try tx.send(to: device, items: [.file(photo)]))
        XCTAssertEqual(second.state, .done, "\(second)")
        XCTAssertEqual(second.filesDone, 0)
        XCTAssertEqual(second.filesSkipped, 1, "reported as skipped: \(second)")
        XCTAssertEqual(second.skippedText, "1 file skipped")
        XCTAssertEqual(h.received("Receiver"), ["photo.jpg"], "not received twice")

        // Kept across runs; and without it the same send arrives again (next to the first).
        XCTAssertTrue(SettingsStore(url: h.root.appending(path: "Receiver/settings.json")).load()?.skipExisting ?? false)
        try rx.updateSettings { $0.skipExisting = false }
        let again = try await h.find(rx, from: tx)
        let third = try await tx.finished(try tx.send(to: again, items: [.file(photo)]))
        XCTAssertEqual(third.filesDone, 1, "\(third)")
        XCTAssertEqual(h.received("Receiver"), ["photo (2).jpg", "photo.jpg"])
    }

    @MainActor
    func testFilesSavedWithoutAskingAreNotifiedWithTheAliasMadeSafe() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        var notices: [QuickSaveNotice] = []
        rx.onQuickSave = { notices.append($0) }
        try tx.updateSettings { $0.alias = "Eve\u{202E}gpj.exe" }
        try rx.updateSettings { $0.quickSave = .everyone }
        try await h.running(rx)
        try await h.running(tx)
        let files = try ["a.txt", "b\u{1b}[2J.txt", "c.txt"].map { try h.file($0, size: 100) }
        let device = try await h.find(rx, from: tx)

        _ = try await tx.finished(try tx.send(to: device, items: files.map(OutgoingItem.file)))
        let notice = try await eventually("the notice") { notices.first }
        XCTAssertEqual(notice.title, "Saved 3 files from Eve\\u{202e}gpj.exe")
        XCTAssertEqual(notice.fileCount, 3)
        XCTAssertEqual(notice.body, "a.txt, b\\x1b[2J.txt and 1 more")
        XCTAssertEqual(notice.id, rx.history.first?.id)

        // Asked about and accepted: the user saw it, nothing to notify.
        try rx.updateSettings { $0.quickSave = .off }
        let asked = try await h.find(rx, from: tx)
        let id = try tx.send(to: asked, items: [.file(files[0])])
        let request = try await rx.firstRequest()
        try rx.accept(request.sessionId)
        _ = try await tx.finished(id)
        _ = try await eventually("the receive to end") {
            rx.transfers.first { $0.direction == .receive && $0.state.isFinished && $0.id.hasSuffix(request.sessionId) }
        }
        XCTAssertEqual(notices.count, 1)
    }

    func testTheNoticeSaysOneFileAndNothingForNoFile() {
        let one = HistoryEntry(id: "r1", direction: .receive, peerAlias: "Anna", peerFingerprint: nil,
                               files: [HistoryFile(name: "x.pdf", size: 1, location: nil)], bytes: 1, outcome: .done,
                               message: nil, date: .now)
        XCTAssertEqual(QuickSaveNotice(one)?.title, "Saved 1 file from Anna")
        XCTAssertEqual(QuickSaveNotice(one)?.body, "x.pdf")
        var none = one
        none.files = []
        XCTAssertNil(QuickSaveNotice(none))
        var sent = one
        sent.direction = .send
        XCTAssertNil(QuickSaveNotice(sent))
    }

    func testSendsRetryWhenTheNetworkComesBackOrChangesAndAtTheFront() {
        var trigger = ReconnectTrigger()
        let wifi = NetworkPath(satisfied: true, interfaces: ["en0"])
        XCTAssertTrue(trigger.cameToForeground(), "nothing known: try")
        XCTAssertFalse(trigger.pathChanged(wifi), "the first report tells how things are")
        XCTAssertFalse(trigger.pathChanged(wifi), "no change")
        XCTAssertFalse(trigger.pathChanged(NetworkPath(satisfied: false, interfaces: [])), "gone: nothing to retry over")
        XCTAssertFalse(trigger.cameToForeground(), "no network: the path's return retries")
        XCTAssertTrue(trigger.pathChanged(wifi), "back")
        XCTAssertTrue(trigger.cameToForeground())
        XCTAssertTrue(trigger.pathChanged(NetworkPath(satisfied: true, interfaces: ["en0", "en2"])), "another interface")
        XCTAssertFalse(trigger.pathChanged(NetworkPath(satisfied: true, interfaces: ["en2", "en0"])), "the same, in another order")
    }
}

final class SpeedTests: XCTestCase {
    private let t0 = ContinuousClock.now
    private let mb: Int64 = 1_000_000

    private func at(_ seconds: Double) -> ContinuousClock.Instant {
        t0 + .milliseconds(Int64(seconds * 1000))
    }

    /// Reports every 0.1 s at `rate` bytes per second from `start` for `seconds`.
    private func feed(_ speed: inout TransferSpeed, from start: Double, seconds: Double, rate: Int64, bytes: inout Int64) {
        var t = start
        while t < start + seconds - 1e-9 {
            t += 0.1
            bytes += rate / 10
            speed.record(bytes, at: at(t))
        }
    }

    func testSteadyProgressGivesItsSpeedAndTheTimeLeftOnlyAfterAWarmUp() throws {
        var speed = TransferSpeed()
        var bytes: Int64 = 0
        speed.record(0, at: at(0))
        feed(&speed, from: 0, seconds: 1.5, rate: 2 * mb, bytes: &bytes)
        XCTAssertNil(speed.bytesPerSecond(at: at(1.5)), "too early to say")
        XCTAssertNil(speed.timeLeft(remaining: 100 * mb, at: at(1.5)))
        feed(&speed, from: 1.5, seconds: 8.5, rate: 2 * mb, bytes: &bytes)
        let rate = try XCTUnwrap(speed.bytesPerSecond(at: at(10)))
        XCTAssertEqual(rate, Double(2 * mb), accuracy: Double(mb) / 10)
        let left = try XCTUnwrap(speed.timeLeft(remaining: 300 * mb, at: at(10)))
        XCTAssertEqual(left.seconds, 150, accuracy: 5)
        XCTAssertEqual(ByteText.timeLeft(left), "3 min left")
        XCTAssertNil(speed.timeLeft(remaining: 0, at: at(10)), "nothing left to go")
    }

    func testAStallLowersTheSpeedAndSaysNoTimeLeft() throws {
        var speed = TransferSpeed()
        var bytes: Int64 = 0
        speed.record(0, at: at(0))
        feed(&speed, from: 0, seconds: 10, rate: 4 * mb, bytes: &bytes)
        XCTAssertFalse(speed.isStalled(at: at(10)))
        // Nothing arrives for 8 s (no reports either).
        let stalled = try XCTUnwrap(speed.bytesPerSecond(at: at(18)))
        XCTAssertLessThan(stalled, Double(mb), "falls towards zero (from 4 MB/s)")
        XCTAssertTrue(speed.isStalled(at: at(18)))
        XCTAssertNil(speed.timeLeft(remaining: 100 * mb, at: at(18)), "no time left while stalled")
        // Bytes move again: the time left is back.
        feed(&speed, from: 18, seconds: 6, rate: 4 * mb, bytes: &bytes)
        XCTAssertNotNil(speed.timeLeft(remaining: 100 * mb, at: at(24)))
    }

    func testABurstMovesTheAverageByAPartOnlyAndAResumedJumpNotAtAll() throws {
        var speed = TransferSpeed()
        var bytes: Int64 = 0
        speed.record(0, at: at(0))
        feed(&speed, from: 0, seconds: 10, rate: mb, bytes: &bytes)
        // 5 MB at once (buffers flushed).
        bytes += 5 * mb
        speed.record(bytes, at: at(10.05))
        feed(&speed, from: 10.05, seconds: 1, rate: mb, bytes: &bytes)
        let afterBurst = try XCTUnwrap(speed.bytesPerSecond(at: at(11.05)))
        XCTAssertGreaterThan(afterBurst, Double(mb))
        XCTAssertLessThan(afterBurst, Double(3 * mb), "smoothed, not 6 MB/s")
        feed(&speed, from: 11.05, seconds: 10, rate: mb, bytes: &bytes)
        XCTAssertEqual(try XCTUnwrap(speed.bytesPerSecond(at: at(21.05))), Double(mb), accuracy: Double(mb) / 5, "back to steady")

        // A resumed file: 500 MB held by the receiver count at once, but did not move now.
        speed.expectJump()
        bytes += 500 * mb
        speed.record(bytes, at: at(21.1))
        feed(&speed, from: 21.1, seconds: 2, rate: mb, bytes: &bytes)
        XCTAssertEqual(try XCTUnwrap(speed.bytesPerSecond(at: at(23.1))), Double(mb), accuracy: Double(mb) / 5)
        // A file that starts again from zero: the count goes back, the speed does not.
        bytes -= 3 * mb
        speed.record(bytes, at: at(23.2))
        feed(&speed, from: 23.2, seconds: 2, rate: mb, bytes: &bytes)
        XCTAssertEqual(try XCTUnwrap(speed.bytesPerSecond(at: at(25.2))), Double(mb), accuracy: Double(mb) / 5)
    }

    func testNothingToSendOrNothingMovingSaysNothing() {
        var speed = TransferSpeed()
        XCTAssertNil(speed.bytesPerSecond(at: at(5)), "no report yet")
        speed.record(0, at: at(0))
        speed.record(0, at: at(5))
        XCTAssertEqual(speed.bytesPerSecond(at: at(5)), 0)
        XCTAssertNil(speed.timeLeft(remaining: 0, at: at(5)), "a zero total")
        XCTAssertNil(speed.timeLeft(remaining: mb, at: at(5)), "no speed, no time left")

        // Through a transfer: running, but its size is zero.
        var transfer = Transfer(id: "t", direction: .send, peerAlias: "A", peerFingerprint: nil, fileNames: ["e"], bytesDone: 0,
                                bytesTotal: 0, filesDone: 0, filesFailed: 0, state: .running, message: nil, errorKind: nil,
                                startedAt: .now)
        transfer.speed = speed
        XCTAssertNil(transfer.fraction)
        XCTAssertEqual(transfer.speedText(at: at(5)), "Stalled")
        transfer.state = .done
        XCTAssertNil(transfer.speedText(at: at(5)), "finished: nothing to say")
    }

    func testSizesSpeedsAndTimesForPeople() {
        XCTAssertEqual(ByteText.size(0), "0 bytes")
        XCTAssertEqual(ByteText.size(1), "1 byte")
        XCTAssertEqual(ByteText.size(999), "999 bytes")
        XCTAssertEqual(ByteText.size(1500), "1.5 KB")
        XCTAssertEqual(ByteText.size(12_345_678), "12.3 MB")
        XCTAssertEqual(ByteText.size(999_999_999), "1.0 GB")
        XCTAssertEqual(ByteText.size(250_000_000_000), "250 GB")
        XCTAssertEqual(ByteText.speed(2_400_000), "2.4 MB/s")
        XCTAssertEqual(ByteText.timeLeft(.milliseconds(300)), "1 s left")
        XCTAssertEqual(ByteText.timeLeft(.seconds(45)), "45 s left")
        XCTAssertEqual(ByteText.timeLeft(.seconds(125)), "3 min left")
        XCTAssertEqual(ByteText.timeLeft(.seconds(3900)), "1 h 5 min left")
    }
}
