// What the app shows of peer-supplied strings, through the real library. Run with `swift test`
// in ios/FerryKit on a Mac.
import XCTest
@testable import FerryKit

final class ShownTests: XCTestCase {
    func testPeerNamesAreShownOnOneLineWithEveryControlAndFormatCharacterVisible() {
        XCTAssertEqual(shownName("invoice\u{202E}fdp.exe"), "invoice\\u{202e}fdp.exe")
        XCTAssertEqual(shownName("Bob\nVerified, trusted"), "Bob\\nVerified, trusted")
        XCTAssertEqual(shownName("a\u{1B}]0;title\u{07}b"), "a\\x1b]0;title\\x07b")
        XCTAssertEqual(shownName("back\\slash"), "back\\\\slash")
        XCTAssertEqual(shownName("Zoë's 📷 café"), "Zoë's 📷 café")
        let raw: [UInt32] = Array(0...0x1F) + [0x7F] + Array(0x80...0x9F) + [0x200B, 0x200E, 0x200F, 0x202A, 0x202E, 0x2066, 0x2069, 0xFEFF, 0x061C]
        for c in raw {
            let scalar = Unicode.Scalar(c)!
            let shown = shownName("x\(Character(scalar))y")
            XCTAssertFalse(shown.unicodeScalars.contains(scalar), "U+\(String(c, radix: 16)) shown raw: \(shown)")
        }
    }

    func testTextMessagesKeepTheirLineBreaksAndTabsOnly() {
        XCTAssertEqual(shownText("one\ntwo\tthree"), "one\ntwo\tthree")
        XCTAssertEqual(shownText("clip\u{1B}]52;c;eA==\u{07}\nnext \u{202E}"), "clip\\x1b]52;c;eA==\\x07\nnext \\u{202e}")
    }
}
