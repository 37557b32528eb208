// The one sheet the app shows: requests over the user's sheets, never lost when a sheet closes.
// Real nodes on loopback, as in FerryModelTests.
import XCTest
@testable import FerryKit

final class PresentationTests: XCTestCase {
    override func setUp() {
        super.setUp()
        ignoreSigpipe()
    }

    @MainActor
    func testARequestOverTheSendSheetSurvivesItAndTheSendSheetComesBack() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        try await h.running(rx)
        try await h.running(tx)
        let presentation = Presentation(model: rx, inbox: ShareInbox(outbox: nil))
        XCTAssertNil(presentation.sheet)

        // The receiver's user opened the send sheet for the sender.
        let sender = try await h.find(tx, from: rx)
        presentation.showSend(to: sender)
        XCTAssertEqual(presentation.sheet, .send(sender))

        // A request arrives meanwhile: it is what is shown, over the send sheet.
        let device = try await h.find(rx, from: tx)
        let id = try tx.send(to: device, items: [.file(try h.file("one.txt", size: 10))])
        let request = try await rx.firstRequest()
        XCTAssertEqual(presentation.sheet, .request(request, shown: 0))

        // The send sheet closes underneath (its Cancel, or SwiftUI swiping it away): the request stays.
        presentation.close(.send(sender))
        XCTAssertEqual(presentation.sheet?.id, Sheet.request(request, shown: 0).id)
        // Taken down by anything but an answer, it is put up again as a new item.
        presentation.showSend(to: sender)
        presentation.sheet = nil
        guard case let .request(again, shown) = presentation.sheet else {
            return XCTFail("the request must stay up: \(String(describing: presentation.sheet))")
        }
        XCTAssertEqual(again.sessionId, request.sessionId)
        XCTAssertEqual(shown, 1)
        XCTAssertNotEqual(presentation.sheet?.id, Sheet.request(request, shown: 0).id, "a new item, which SwiftUI presents")

        // Answered: the user's send sheet comes back (it was opened again above).
        try rx.accept(request.sessionId)
        XCTAssertEqual(presentation.sheet, .send(sender))
        let sent = try await tx.finished(id)
        XCTAssertEqual(sent.state, .done, "\(sent)")
        presentation.sheet = nil
        XCTAssertNil(presentation.sheet, "a swipe closes the user's sheet")
    }

    @MainActor
    func testARequestComesOverTheSharedItemsPickerWhichWaitsForIt() async throws {
        let h = try Harness()
        defer { h.close() }
        let rx = try h.model("Receiver")
        let tx = try h.model("Sender")
        try await h.running(rx)
        try await h.running(tx)
        let outbox = SharedOutbox(h.root.appending(path: "group", directoryHint: .isDirectory))
        let batch = try outbox.enqueue(items: [], text: "shared text")
        let inbox = ShareInbox(outbox: outbox)
        let presentation = Presentation(model: rx, inbox: inbox)
        inbox.open(try XCTUnwrap(URL(string: "ferry://outbox?id=\(batch.id.uuidString)")))
        XCTAssertEqual(presentation.sheet, .outbox(batch))

        // Declined: the picker is back.
        let device = try await h.find(rx, from: tx)
        let first = try tx.send(to: device, items: [.file(try h.file("a.txt", size: 10))])
        let request = try await rx.firstRequest()
        XCTAssertEqual(presentation.sheet, .request(request, shown: 0))
        try rx.decline(request.sessionId)
        XCTAssertEqual(presentation.sheet, .outbox(batch))
        let declined = try await tx.finished(first)
        XCTAssertEqual(declined.state, .declined)

        // Withdrawn by its sender: it goes, and the picker is back.
        let second = try tx.send(to: device, items: [.file(try h.file("b.txt", size: 10))])
        let next = try await rx.firstRequest()
        XCTAssertEqual(presentation.sheet, .request(next, shown: 0))
        tx.cancel(second)
        try await eventually("the withdrawn request to go") { rx.requests.isEmpty }
        XCTAssertEqual(presentation.sheet, .outbox(batch))

        // Closing the picker keeps the batch for later; giving it up removes it.
        presentation.sheet = nil
        XCTAssertNil(presentation.sheet)
        XCTAssertEqual(outbox.pending(), [batch])
        inbox.refresh()
        XCTAssertEqual(presentation.sheet, .outbox(batch))
        inbox.discard(batch)
        XCTAssertNil(presentation.sheet)
        XCTAssertEqual(outbox.pending(), [])
    }
}
