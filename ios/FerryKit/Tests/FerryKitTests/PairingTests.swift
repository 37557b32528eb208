// Pairing by QR code: this device's code and its QR modules, and pairing with another real node
// on loopback (its code names 127.0.0.1, the address it is bound to), with every way it fails.
import XCTest
@testable import FerryKit

final class PairingTests: XCTestCase {
    override func setUp() {
        super.setUp()
        ignoreSigpipe()
    }

    @MainActor
    func testPairingWithACodeTrustsTheDeviceThatProvesItAndNothingElse() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Desk")
        let tx = try h.model("Phone")
        try rx.updateSettings { $0.quickSave = .trusted }
        XCTAssertNil(rx.pairingCode(), "not running: no code")
        let r1 = await tx.pair(code: "ferry://pair?v=1")
        XCTAssertEqual(r1, .notRunning)
        let rxNode = try await h.running(rx)
        try await h.running(tx)
        let r2 = await tx.pair(code: "ferry://pair?v=1&fp=00")
        XCTAssertEqual(r2, .notAFerryCode, "checked by Ferry, strictly")
        let code = try XCTUnwrap(rx.pairingCode())
        XCTAssertTrue(code.hasPrefix("ferry://pair?v=1&fp=\(rxNode.fingerprint)&a=Desk&p=\(rxNode.port)"), code)
        XCTAssertTrue(code.contains("&ip=127.0.0.1"), code)

        let r3 = await tx.pair(code: "https://example.com/ferry://pair?")
        XCTAssertEqual(r3, .notAFerryCode)
        let r4 = await tx.pair(code: "   ")
        XCTAssertEqual(r4, .notAFerryCode)
        // A code naming another certificate: the device at its address does not prove it.
        let wrong = code.replacingOccurrences(of: rxNode.fingerprint, with: String(repeating: "AB", count: 32))
        let r5 = await tx.pair(code: wrong)
        XCTAssertEqual(r5, .fingerprintMismatch)
        // Nothing listens at the code's port.
        let nowhere = "ferry://pair?v=1&fp=\(rxNode.fingerprint)&a=Desk&p=1&s=https&ip=127.0.0.1"
        let r6 = await tx.pair(code: nowhere)
        XCTAssertEqual(r6, .nothingAnswered)
        XCTAssertTrue(tx.trusted.isEmpty, "nothing trusted by a failed pairing")
        XCTAssertTrue(tx.settings.favorites.isEmpty)

        // The real code, with spaces around it as pasted.
        let result = await tx.pair(code: " \(code)\n")
        XCTAssertEqual(result, .paired(alias: "Desk", fingerprint: rxNode.fingerprint))
        XCTAssertTrue(result.succeeded)
        XCTAssertEqual(result.message, "Paired with “Desk”. It is trusted now: its files are saved as Quick Save says.")
        XCTAssertEqual(tx.trusted.map(\.fingerprint), [rxNode.fingerprint])
        let listed = try XCTUnwrap(tx.devices.first { $0.fingerprint == rxNode.fingerprint })
        XCTAssertTrue(listed.favorite && listed.verified && listed.online, "\(listed)")
        XCTAssertEqual(listed.address, "127.0.0.1:\(rxNode.port)")

        // The paired device sends without being asked when the other trusts it back (quick save
        // from trusted devices): pairing both ways is one scan each.
        let back = try XCTUnwrap(tx.pairingCode())
        let backResult = await rx.pair(code: back)
        XCTAssertTrue(backResult.succeeded, "\(backResult)")
        let sent = try await tx.finished(try tx.send(to: listed, items: [.file(try h.file("paired.txt", size: 10))]))
        XCTAssertEqual(sent.state, .done, "\(sent)")
        XCTAssertTrue(rx.requests.isEmpty)
    }

    @MainActor
    func testACodeFromALinkIsPairedAndItsResultKeptUntilDismissed() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Desk")
        let tx = try h.model("Phone")
        try await h.running(rx)
        try await h.running(tx)
        let code = try XCTUnwrap(rx.pairingCode())
        let url = try XCTUnwrap(URL(string: code))
        guard case let .pairing(text) = FerryLink(url) else { return XCTFail("not a pairing link: \(url)") }
        await tx.pair(link: text)
        XCTAssertEqual(tx.linkPairing?.result?.succeeded, true, "\(String(describing: tx.linkPairing))")
        tx.dismissLinkPairing()
        XCTAssertNil(tx.linkPairing)
        // A link that opens Ferry before its node runs (a cold start from the Camera app).
        let cold = try h.model("Tablet")
        XCTAssertFalse(cold.nodeState.isRunning)
        await cold.pair(link: text)
        XCTAssertEqual(cold.linkPairing?.result, .paired(alias: "Desk", fingerprint: try XCTUnwrap(rx.nodeState.fingerprint)))

        XCTAssertEqual(FerryLink(try XCTUnwrap(URL(string: "ferry://outbox?id=1"))), .outbox(try XCTUnwrap(URL(string: "ferry://outbox?id=1"))))
        XCTAssertNil(FerryLink(try XCTUnwrap(URL(string: "ferry://elsewhere"))))
        XCTAssertNil(FerryLink(try XCTUnwrap(URL(string: "https://pair"))))
        XCTAssertTrue(FerryLink.isPairingCode("FERRY://PAIR?v=1"))
    }

    func testResultsForPeopleEscapeTheAlias() {
        XCTAssertEqual(PairingResult.paired(alias: "Eve\u{202E}gpj.exe\n", fingerprint: "x").message,
                       "Paired with “Eve\\u{202e}gpj.exe\\n”. It is trusted now: its files are saved as Quick Save says.")
        XCTAssertFalse(PairingResult.fingerprintMismatch.succeeded)
        XCTAssertEqual(PairingResult.notAFerryCode.message, "This is not a Ferry pairing code.")
        XCTAssertTrue(PairingResult.nothingAnswered.message.hasPrefix("No device answered"))
    }

    func testTheQRCodeHasItsQuietZoneAndFinderPatterns() throws {
        let code = "ferry://pair?v=1&fp=\(String(repeating: "AB", count: 32))&a=Desk&p=53317&s=https&ip=192.168.1.20"
        let qr = try XCTUnwrap(QRMatrix(text: code))
        let q = QRMatrix.quietZone
        XCTAssertEqual(q, 4)
        XCTAssertEqual(qr.side, qr.codeSize + 8)
        XCTAssertTrue((21...177).contains(qr.codeSize))
        // The margin is light all round.
        for i in 0..<qr.side {
            for m in 0..<q {
                XCTAssertFalse(qr.isDark(x: i, y: m) || qr.isDark(x: m, y: i) || qr.isDark(x: i, y: qr.side - 1 - m)
                    || qr.isDark(x: qr.side - 1 - m, y: i), "margin at \(i), \(m)")
            }
        }
        // The three finder squares: a dark ring, a light ring, a dark centre.
        for (ox, oy) in [(q, q), (qr.side - q - 7, q), (q, qr.side - q - 7)] {
            for i in 0..<7 {
                XCTAssertTrue(qr.isDark(x: ox + i, y: oy) && qr.isDark(x: ox + i, y: oy + 6)
                    && qr.isDark(x: ox, y: oy + i) && qr.isDark(x: ox + 6, y: oy + i))
            }
            XCTAssertFalse(qr.isDark(x: ox + 1, y: oy + 1))
            XCTAssertTrue(qr.isDark(x: ox + 3, y: oy + 3))
        }
        XCTAssertFalse(qr.isDark(x: -1, y: 5))
        XCTAssertFalse(qr.isDark(x: 5, y: qr.side + 3))
        // The runs cover exactly the dark modules.
        var fromRuns = Set<[Int]>()
        for run in qr.darkRuns {
            XCTAssertGreaterThan(run.length, 0)
            for x in run.x..<(run.x + run.length) { fromRuns.insert([x, run.y]) }
        }
        var dark = Set<[Int]>()
        for y in 0..<qr.side { for x in 0..<qr.side where qr.isDark(x: x, y: y) { dark.insert([x, y]) } }
        XCTAssertEqual(fromRuns, dark)
        XCTAssertNil(QRMatrix(text: String(repeating: "x", count: 4000)), "too long for a QR code")
    }
}
