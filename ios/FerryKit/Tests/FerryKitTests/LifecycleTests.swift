// The app's last seconds in the background, the next launch after it was cut off, and what the
// nearby list says when it finds nothing. Real nodes on loopback, as in FerryModelTests.
import Observation
import XCTest
@testable import FerryKit

/// The names in a folder, hidden ones too (Ferry's partial files are `.ferry-*.part`).
func everything(in folder: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder.path(percentEncoded: false))) ?? []).sorted()
}

/// Set once, from any thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

final class LifecycleTests: XCTestCase {
    override func setUp() {
        super.setUp()
        ignoreSigpipe()
    }

    @MainActor
    func testCancellingForSuspensionEndsEveryTransferInTheHistoryWithoutPartialFiles() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        try await h.running(rx)
        try await h.running(tx)
        try rx.updateSettings { $0.quickSave = .everyone }
        let huge = try h.sparseFile("huge.bin", size: 1 << 30)
        let device = try await h.find(rx, from: tx)

        // The receiver's time runs out while it receives.
        _ = try tx.send(to: device, items: [.file(huge)])
        let receiving = try await eventually("bytes arriving") { rx.transfers.first { $0.direction == .receive && $0.bytesDone > 0 } }
        let ended = await rx.cancelAll(waitingAtMost: .seconds(20))
        // Right after the wait, with no further event: ended, recorded, nothing partial left.
        XCTAssertTrue(ended)
        XCTAssertFalse(rx.hasActiveTransfers)
        XCTAssertEqual(rx.transfers.first { $0.id == receiving.id }?.state, .cancelled)
        XCTAssertEqual(rx.history.first?.id, receiving.id)
        XCTAssertEqual(rx.history.first?.outcome, .cancelled)
        XCTAssertEqual(everything(in: h.inbox("Receiver")), [], "no partial file, hidden or not")

        // The sender's time runs out while it sends.
        let id = try tx.send(to: device, items: [.file(huge)])
        try await eventually("bytes moving") { (tx.transfers.first { $0.id == id }?.bytesDone ?? 0) > 0 }
        let sendEnded = await tx.cancelAll(waitingAtMost: .seconds(20))
        XCTAssertTrue(sendEnded)
        XCTAssertEqual(tx.transfers.first { $0.id == id }?.state, .cancelled)
        XCTAssertEqual(tx.history.first?.id, id)
        XCTAssertEqual(tx.history.first?.outcome, .cancelled)
        // Nothing running: nothing to wait for.
        let idle = await tx.cancelAll(waitingAtMost: .zero)
        XCTAssertTrue(idle)
    }

    @MainActor
    func testATransferCutOffWithTheAppIsRecordedAndItsPartialFileRemovedAtTheNextLaunch() async throws {
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
        let receiving = try await eventually("bytes arriving") { rx.transfers.first { $0.direction == .receive && $0.bytesDone > 0 } }

        // iOS ends the app here. The next launch finds the receiver's files as they are now: its
        // data folder (with the list of running transfers) and a partial file in its inbox.
        let fm = FileManager.default
        let data = h.root.appending(path: "Relaunched", directoryHint: .isDirectory)
        try fm.copyItem(at: h.root.appending(path: "Receiver", directoryHint: .isDirectory), to: data)
        let inbox = h.inbox("Relaunched")
        try fm.createDirectory(at: inbox, withIntermediateDirectories: true)
        let part = inbox.appending(path: ".ferry-0123456789abcdef.part")
        try Data(count: 4096).write(to: part)
        try Data("kept".utf8).write(to: inbox.appending(path: "earlier.txt"))

        let relaunched = FerryModel(paths: FerryPaths(dataDirectory: data, receiveDirectory: inbox),
                                    device: DeviceInfo(defaultAlias: "Receiver", model: "XCTest", kind: .desktop),
                                    network: NetworkOptions(discovery: false, bindAddress: "127.0.0.1"))
        let entry = try XCTUnwrap(relaunched.history.first { $0.id == receiving.id }, "the cut-off receive is in the history")
        XCTAssertEqual(entry.outcome, .failed)
        XCTAssertEqual(entry.message, FerryModel.interrupted)
        XCTAssertEqual(entry.files.map(\.name), ["huge.bin"])
        XCTAssertEqual(entry.peerAlias, "Sender")
        XCTAssertTrue(relaunched.transfers.isEmpty)
        // Once only: a second launch finds nothing left to record.
        let third = FerryModel(paths: FerryPaths(dataDirectory: data, receiveDirectory: inbox),
                               device: DeviceInfo(defaultAlias: "Receiver", model: "XCTest", kind: .desktop),
                               network: NetworkOptions(discovery: false, bindAddress: "127.0.0.1"))
        XCTAssertEqual(third.history.filter { $0.id == receiving.id }.count, 1)

        // Its node removes the partial file when it starts; the files received before stay.
        try relaunched.updateSettings { $0.port = 0 }
        _ = try await h.running(relaunched)
        XCTAssertEqual(everything(in: inbox), ["earlier.txt"])
        relaunched.stop()

        // The running one ends normally: nothing is left listed as running.
        tx.cancel(id)
        _ = try await tx.finished(id)
        _ = try await rx.finished(receiving.id)
        let again = FerryModel(paths: FerryPaths(dataDirectory: h.root.appending(path: "Receiver", directoryHint: .isDirectory),
                                                 receiveDirectory: h.inbox("Receiver")),
                               device: DeviceInfo(defaultAlias: "Receiver", model: "XCTest", kind: .desktop),
                               network: NetworkOptions(discovery: false, bindAddress: "127.0.0.1"))
        XCTAssertFalse(again.history.contains { $0.message == FerryModel.interrupted })
    }

    func testTheNearbyListStopsLookingAfterAWhileAndExplains() {
        let start = ContinuousClock.now
        var search = NearbySearch(patience: .seconds(10))
        XCTAssertEqual(search.status(online: 0, access: .unknown, at: start), .looking, "not held yet")
        search.started(at: start)
        XCTAssertEqual(search.status(online: 0, access: .unknown, at: start + .seconds(9)), .looking)
        XCTAssertEqual(search.status(online: 0, access: .unknown, at: start + .seconds(10)), .nothingFound)
        XCTAssertEqual(search.status(online: 0, access: .granted, at: start + .seconds(60)), .nothingFound)
        XCTAssertEqual(search.status(online: 2, access: .unknown, at: start + .seconds(60)), .found)
        XCTAssertEqual(search.status(online: 0, access: .denied, at: start), .localNetworkDenied, "at once")
        // Holding again does not start the wait again; releasing does.
        search.started(at: start + .seconds(30))
        XCTAssertEqual(search.status(online: 0, access: .unknown, at: start + .seconds(31)), .nothingFound)
        search.stopped()
        search.started(at: start + .seconds(40))
        XCTAssertEqual(search.status(online: 0, access: .unknown, at: start + .seconds(41)), .looking)
    }

    @MainActor
    func testTheModelSaysNothingWasFoundOrThatTheLocalNetworkIsRefused() async throws {
        let h = try Harness()
        defer { h.close() }
        let model = try h.model("Phone", searchPatience: .milliseconds(300))
        try await h.running(model)
        let other = try h.model("Desk")
        try await h.running(other)

        XCTAssertEqual(model.nearbyStatus, .looking)
        let hold = model.holdDiscovery()
        XCTAssertEqual(model.nearbyStatus, .looking)
        // Observation tells the list when it changes (no polling in the view).
        let told = Flag()
        withObservationTracking { _ = model.nearbyStatus } onChange: { told.set() }
        try await eventually("nearbyStatus to change") { told.isSet }
        try await eventually("nothing found") { model.nearbyStatus == .nothingFound }

        model.reportLocalNetwork(.denied)
        XCTAssertEqual(model.nearbyStatus, .localNetworkDenied)
        model.reportLocalNetwork(.granted)
        XCTAssertEqual(model.nearbyStatus, .nothingFound)
        _ = try await h.find(other, from: model)
        XCTAssertEqual(model.nearbyStatus, .found)
        hold.release()
    }
}
