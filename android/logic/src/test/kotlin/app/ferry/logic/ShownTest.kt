// What the apps show of peer-supplied strings, through the real library.
package app.ferry.logic

import kotlin.test.assertEquals
import kotlin.test.assertFalse
import org.junit.Test

class ShownTest {
    @Test
    fun peerNamesAreShownOnOneLineWithEveryControlAndFormatCharacterVisible() {
        assertEquals("invoice\\u{202e}fdp.exe", shownName("invoice\u202Efdp.exe"))
        assertEquals("Bob\\nVerified, trusted", shownName("Bob\nVerified, trusted"))
        assertEquals("a\\x1b]0;title\\x07b", shownName("a\u001B]0;title\u0007b"))
        assertEquals("c\\u{9b}2J \\u{2066}x\\u{2069}", shownName("c\u009B2J \u2066x\u2069"))
        assertEquals("back\\\\slash", shownName("back\\slash"))
        assertEquals("Zoë's 📷 café", shownName("Zoë's 📷 café"))
        for (c in (0..0x1F) + 0x7F + (0x80..0x9F) + listOf(0x200B, 0x200E, 0x200F, 0x202A, 0x202E, 0x2066, 0x2069, 0xFEFF, 0x061C)) {
            val shown = shownName("x" + c.toChar() + "y")
            assertFalse(shown.any { it.code == c }, "U+%04X shown raw: %s".format(c, shown))
        }
    }

    @Test
    fun textMessagesKeepTheirLineBreaksAndTabsOnly() {
        assertEquals("one\ntwo\tthree", shownText("one\ntwo\tthree"))
        assertEquals("clip\\x1b]52;c;eA==\\x07\nnext \\u{202e}", shownText("clip\u001B]52;c;eA==\u0007\r\nnext \u202E"))
    }
}
