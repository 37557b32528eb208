package app.ferry.logic

import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.junit.Test

class SpeedTest {
    private fun near(expected: Double, actual: Double?, within: Double = 0.05) {
        assertNotNull(actual)
        assertTrue(kotlin.math.abs(actual - expected) <= expected * within, "expected about $expected, got $actual")
    }

    /** Feeds [bytesPerSecond] in updates every [stepMs] from [fromMs] to [toMs], starting at [bytes]; returns the total. */
    private fun RateMeter.feed(fromMs: Long, toMs: Long, stepMs: Long, bytesPerSecond: Long, bytes: Long = 0): Long {
        var b = bytes
        var t = fromMs
        while (t <= toMs) {
            add(t, b)
            t += stepMs
            b += bytesPerSecond * stepMs / 1000
        }
        return b - bytesPerSecond * stepMs / 1000
    }

    @Test
    fun aSteadyRateIsMeasuredAfterTheWarmUpAndGivesTheTimeLeft() {
        val m = RateMeter()
        m.add(0, 0)
        assertNull(m.rate(0))
        m.add(500, 5_000_000)
        assertNull(m.rate(1_000), "nothing is said during the warm-up")
        m.feed(1_000, 10_000, 100, 10_000_000, 10_000_000)
        near(10_000_000.0, m.rate(10_000))
        assertEquals(9L, timeLeftSeconds(10_000_000, 100_000_000, 10_000_000.0))
        assertEquals(1L, timeLeftSeconds(99_999_999, 100_000_000, 10_000_000.0), "a few bytes left is still a second")
    }

    @Test
    fun aStallLowersTheRateUntilNoTimeLeftIsShown() {
        val m = RateMeter()
        val total = m.feed(0, 10_000, 250, 1_000_000)
        near(1_000_000.0, m.rate(10_000))
        // Nothing comes: after one half-life the rate is halved, and soon it counts as stalled.
        near(500_000.0, m.rate(13_000))
        val later = m.rate(40_000)
        assertNotNull(later)
        assertTrue(later < STALLED_BYTES_PER_SECOND, "$later")
        assertNull(timeLeftSeconds(total, total * 2, later), "a stalled transfer has no time left")
        // Bytes come again: the rate climbs back.
        m.feed(40_000, 55_000, 250, 1_000_000, total)
        near(1_000_000.0, m.rate(55_000), 0.1)
    }

    @Test
    fun aBurstOfUpdatesAndAResumedJumpDoNotMakeASpike() {
        val m = RateMeter()
        var b = m.feed(0, 5_000, 250, 1_000_000)
        // Twenty updates within 10 ms (parallel uploads reporting at once): gathered, not a spike.
        repeat(20) { i -> b += 10_000; m.add(5_001L + i / 2, b) }
        near(1_000_000.0, m.rate(5_010), 0.1)
        // A resumed file: 500 MB kept by the receiver are not speed.
        b += 500_000_000
        m.rebase(b)
        m.feed(5_250, 8_000, 250, 1_000_000, b + 250_000)
        near(1_000_000.0, m.rate(8_000), 0.15)
        // A total that goes back (a file sent again from zero) is no negative speed.
        m.add(8_250, 0)
        m.feed(8_500, 10_000, 250, 1_000_000, 250_000)
        near(1_000_000.0, m.rate(10_000), 0.15)
    }

    @Test
    fun anUnknownOrZeroSizeOrAnAbsurdTimeSaysNothing() {
        assertNull(timeLeftSeconds(0, 0, 1_000_000.0), "zero total")
        assertNull(timeLeftSeconds(0, 100, null), "no rate yet")
        assertNull(timeLeftSeconds(0, 100, 0.0))
        assertNull(timeLeftSeconds(0, Long.MAX_VALUE, 2_000.0), "more than a day")
        assertEquals(0L, timeLeftSeconds(200, 100, 5_000.0), "done (or more) leaves nothing")
        assertEquals("1 s", formatTimeLeft(0))
        assertEquals("45 s", formatTimeLeft(45))
        assertEquals("2 min", formatTimeLeft(100))
        assertEquals("1 h", formatTimeLeft(3_600))
        assertEquals("1 h 5 min", formatTimeLeft(3_900))
        // Zero bytes moving from the start: no rate is invented.
        val m = RateMeter()
        m.feed(0, 5_000, 250, 0)
        assertEquals(0.0, m.rate(5_000))
    }

    @Test
    fun transferTextShowsResumedSkippedAndSpeed() {
        val size = { b: Long -> "${b / 1_000_000} MB" }
        val t = Transfer("send-1", Direction.SEND, "Anna", null, listOf("a"), 50_000_000, 100_000_000, 0, 0, TransferState.RUNNING,
            startedAtMs = 0)
        assertNull(TransferText.notes(t, size))
        assertNull(TransferText.speed(t, size), "no speed before it means something")
        assertEquals("Reconnecting…", TransferText.notes(t.copy(retrying = true), size))
        assertEquals("Resumed at 12 MB · 3 skipped by the receiver",
            TransferText.notes(t.copy(resumedAtBytes = 12_000_000, filesSkipped = 3), size))
        assertEquals("3 already there, skipped", TransferText.notes(t.copy(direction = Direction.RECEIVE, filesSkipped = 3), size))
        assertEquals("5 MB/s · 10 s left", TransferText.speed(t.copy(bytesPerSecond = 5_000_000, secondsLeft = 10), size))
        assertEquals("5 MB/s", TransferText.speed(t.copy(bytesPerSecond = 5_000_000), size))
        assertNull(TransferText.speed(t.copy(bytesPerSecond = 5_000_000, retrying = true), size), "no speed while reconnecting")
        assertNull(TransferText.notes(t.copy(state = TransferState.DONE, retrying = true), size), "an ended transfer is not reconnecting")
    }

    @Test
    fun aQuickSaveNoticeOnlyForFilesSavedWithoutAsking() {
        val t = Transfer("receive-s", Direction.RECEIVE, "Eve\u202Egpj.exe", "FP", listOf("a", "b"), 10, 10, 2, 0, TransferState.DONE,
            startedAtMs = 0, savedWithoutAsking = true)
        val n = assertNotNull(QuickSaveNotice.of(t, null))
        assertEquals("Saved 2 files from Eve\\u{202e}gpj.exe", n.title, "the alias is shown escaped")
        assertEquals("Saved 1 file from Eve\\u{202e}gpj.exe", n.copy(files = 1).title)
        assertNull(QuickSaveNotice.of(t.copy(savedWithoutAsking = false), null), "asked about: the usual result")
        assertNull(QuickSaveNotice.of(t.copy(state = TransferState.CANCELLED), null))
        assertNull(QuickSaveNotice.of(t.copy(filesDone = 0), null), "nothing saved")
        assertNull(QuickSaveNotice.of(t.copy(direction = Direction.SEND), null))
        val entry = HistoryEntry("receive-s", Direction.RECEIVE, "Eve", "FP", listOf(HistoryFile("a", 5, null)), 5, HistoryOutcome.PARTIAL,
            null, 0)
        assertEquals(1, QuickSaveNotice.of(t, entry)?.files, "the history entry counts what was saved")
    }
}
