// Share via link and the receive page: a real node on loopback (plain HTTP: encryption off, as a
// browser opens it without a certificate warning) and URLSession as the browser.
import XCTest
@testable import FerryKit
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange: the status and the body.
func fetch(_ url: String, method: String = "GET", agent: String? = nil) async throws -> (status: Int, body: Data) {
    var request = URLRequest(url: try XCTUnwrap(URL(string: url)), timeoutInterval: 60)
    request.httpMethod = method
    if let agent { request.setValue(agent, forHTTPHeaderField: "User-Agent") }
    if method == "POST" { request.httpBody = Data() }
    let session = URLSession(configuration: .ephemeral)
    defer { session.finishTasksAndInvalidate() }
    return try await withCheckedThrowingContinuation { done in
        session.dataTask(with: request) { data, response, error in
            if let error {
                done.resume(throwing: error)
            } else {
                done.resume(returning: ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()))
            }
        }.resume()
    }
}

final class LinkShareTests: XCTestCase {
    override func setUp() {
        super.setUp()
        ignoreSigpipe()
    }

    @MainActor
    func testABrowserTheOwnerLetsInDownloadsTheSharedFileAndOneTurnedAwayDoesNot() async throws {
        let h = try Harness()
        defer { h.close() }
        let owner = try h.model("Owner")
        try owner.updateSettings { $0.encryption = false }
        XCTAssertThrowsError(try owner.startShare(items: [.file(h.root)])) { XCTAssertEqual($0 as? FerryModelError, .notRunning) }
        let node = try await h.running(owner)
        let report = try h.file("report.pdf", size: 300_000)
        try owner.startShare(items: [.file(report)])
        let share = try XCTUnwrap(owner.linkShare)
        let link = "http://127.0.0.1:\(node.port)/"
        XCTAssertEqual(share.links, [link])
        XCTAssertEqual(share.files, ["report.pdf"])
        XCTAssertEqual(share.totalBytes, 300_000)
        XCTAssertNotNil(QRMatrix(text: try XCTUnwrap(share.primaryLink)), "the link as a QR code")

        // The page, then a browser asks for the list: the owner is asked, with its text made safe.
        let page = try await fetch(link)
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(String(decoding: page.body, as: UTF8.self).lowercased().contains("<html"))
        let asking = Task.detached { try await fetch(link + "api/localsend/v2/prepare-download", method: "POST", agent: #"Browser \x1b[2J"#) }
        let ask = try await eventually("the browser's request") { owner.linkShare?.waiting.first }
        XCTAssertEqual(ask.address, "127.0.0.1")
        // (HTTP keeps control characters out of headers; what a browser can send is made plain.)
        XCTAssertEqual(ask.userAgent, #"Browser \x1b[2J"#)
        XCTAssertEqual(ask.shownAgent, #"Browser \\x1b[2J"#)
        owner.answerBrowser(ask.id, approve: true)
        XCTAssertTrue(owner.linkShare?.waiting.isEmpty ?? false)
        let listed = try await asking.value
        XCTAssertEqual(listed.status, 200, String(decoding: listed.body, as: UTF8.self))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: listed.body) as? [String: Any])
        let session = try XCTUnwrap(json["sessionId"] as? String)
        let files = try XCTUnwrap(json["files"] as? [String: [String: Any]])
        let fileId = try XCTUnwrap(files.first { $0.value["fileName"] as? String == "report.pdf" }?.key)
        try await eventually("the approval") { owner.linkShare?.approved == ["127.0.0.1"] }

        let download = try await fetch(link + "api/localsend/v2/download?sessionId=\(session)&fileId=\(fileId)")
        XCTAssertEqual(download.status, 200)
        XCTAssertEqual(download.body, try Data(contentsOf: report))
        let done = try await eventually("the download in the share") { owner.linkShare?.downloads.first { $0.finished } }
        XCTAssertTrue(done.complete)
        XCTAssertEqual(done.sent, 300_000)
        XCTAssertEqual(done.name, "report.pdf")
        XCTAssertEqual(owner.linkShare?.completedDownloads, 1)

        // Stopped: nothing is served. Shared again: browsers ask again, and one turned away gets nothing.
        owner.stopShare()
        XCTAssertNil(owner.linkShare)
        let closed = try await fetch(link + "api/localsend/v2/prepare-download", method: "POST")
        XCTAssertNotEqual(closed.status, 200)
        try owner.startShare(items: [.file(report)])
        let turnedAway = Task.detached { try await fetch(link + "api/localsend/v2/prepare-download", method: "POST") }
        let second = try await eventually("the browser to ask again") { owner.linkShare?.waiting.first }
        owner.answerBrowser(second.id, approve: false)
        let refused = try await turnedAway.value
        XCTAssertEqual(refused.status, 403)
        try await eventually("the decline") { owner.linkShare?.declined == ["127.0.0.1"] }
        XCTAssertEqual(owner.linkShare?.approved, [])

        // The node stopping takes the share with it.
        owner.stop()
        XCTAssertNil(owner.linkShare)
    }

    @MainActor
    func testTheReceivePageIsServedWhileOnAndAcrossARestart() async throws {
        let h = try Harness()
        defer { h.close() }
        let owner = try h.model("Owner")
        try owner.updateSettings { $0.encryption = false }
        try await h.running(owner)
        let link = try XCTUnwrap(owner.pageLinks().first)
        let off = try await fetch(link + "web/state")
        XCTAssertNotEqual(off.status, 200, "off: no page")
        try owner.setReceivePage(true)
        XCTAssertTrue(owner.receivePage)
        let state = try await fetch(link + "web/state")
        XCTAssertEqual(state.status, 200)
        XCTAssertTrue(String(decoding: state.body, as: UTF8.self).contains("receive"), String(decoding: state.body, as: UTF8.self))

        // A settings change restarts the node (another port here): the page is served again.
        try owner.updateSettings { $0.alias = "Renamed" }
        await owner.start()
        let again = try XCTUnwrap(owner.pageLinks().first)
        let restarted = try await fetch(again + "web/state")
        XCTAssertEqual(restarted.status, 200)
        try owner.setReceivePage(false)
        let stopped = try await fetch(again + "web/state")
        XCTAssertNotEqual(stopped.status, 200)
    }
}
