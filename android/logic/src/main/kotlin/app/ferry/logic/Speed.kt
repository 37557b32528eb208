package app.ferry.logic

import kotlin.math.pow

/**
 * A transfer's speed, smoothed: an exponential moving average of the byte rate, each sample
 * weighted by the time it covers ([halfLifeMs]: a rate that held that long counts half). Bursts
 * (many updates in a few milliseconds) are gathered until [minSampleMs] passed; bytes that did not
 * move over the network (a resumed file's kept part) are skipped with [rebase]; a stall (no update)
 * lowers the rate as time passes, as if zero bytes came. Says nothing ([rate] is null) during the
 * first [warmUpMs] of moving bytes. Not thread-safe: one per transfer, fed under a lock.
 */
class RateMeter(
    private val halfLifeMs: Long = 3_000,
    private val minSampleMs: Long = 250,
    private val warmUpMs: Long = 2_000,
) {
    private var firstMs: Long? = null
    private var lastMs = 0L
    private var lastBytes = 0L
    private var rate = 0.0

    /** [bytesDone] (the running total) at [nowMs]. A total that went back (a file sent again from zero) restarts the count there. */
    fun add(nowMs: Long, bytesDone: Long) {
        val first = firstMs
        if (first == null) {
            firstMs = nowMs
            lastMs = nowMs
            lastBytes = bytesDone
            return
        }
        if (bytesDone < lastBytes) {
            lastMs = nowMs
            lastBytes = bytesDone
            return
        }
        val dt = nowMs - lastMs
        if (dt < minSampleMs) return
        val sample = (bytesDone - lastBytes) * 1000.0 / dt
        rate = if (rate == 0.0 && lastMs == first) sample else blend(rate, sample, dt)
        lastMs = nowMs
        lastBytes = bytesDone
    }

    /** The total jumped to [bytesDone] without moving those bytes (a resume): not counted as speed. */
    fun rebase(bytesDone: Long) {
        lastBytes = bytesDone
    }

    /** Bytes per second at [nowMs] (lowered by the time since the last sample), or null while warming up. */
    fun rate(nowMs: Long): Double? {
        val first = firstMs ?: return null
        if (nowMs - first < warmUpMs || lastMs == first) return null
        val quiet = nowMs - lastMs
        return if (quiet > minSampleMs) blend(rate, 0.0, quiet) else rate
    }

    private fun blend(old: Double, sample: Double, dt: Long): Double {
        val keep = 0.5.pow(dt.toDouble() / halfLifeMs)
        return old * keep + sample * (1 - keep)
    }
}

/** Below this speed (bytes per second) a transfer counts as stalled: no time left is shown. */
const val STALLED_BYTES_PER_SECOND = 1024.0

/** More time left than this is not shown (a guess that far out means nothing). */
const val MAX_SECONDS_LEFT = 24L * 3600

/**
 * Seconds left to move what remains of [bytesTotal] at [bytesPerSecond], or null when that says
 * nothing: the speed is not known yet or stalled, the size is unknown (0), or it is beyond a day.
 */
fun timeLeftSeconds(bytesDone: Long, bytesTotal: Long, bytesPerSecond: Double?): Long? {
    if (bytesTotal <= 0 || bytesPerSecond == null || bytesPerSecond < STALLED_BYTES_PER_SECOND) return null
    val remaining = (bytesTotal - bytesDone).coerceAtLeast(0)
    val s = kotlin.math.ceil(remaining / bytesPerSecond).toLong()
    return s.takeIf { it <= MAX_SECONDS_LEFT }
}

/** "5 s", "2 min", "1 h 5 min": a time left, rounded as people read it (up to a minute, then minutes). */
fun formatTimeLeft(seconds: Long): String = when {
    seconds < 60 -> "${seconds.coerceAtLeast(1)} s"
    seconds < 3600 -> "${(seconds + 30) / 60} min"
    else -> {
        val m = (seconds + 30) / 60
        if (m % 60 == 0L) "${m / 60} h" else "${m / 60} h ${m % 60} min"
    }
}
