package app.ferry.logic

/**
 * The lines a transfer shows beside its progress (in the app and in the progress notification),
 * decided here; the app gives its size format (Android: Formatter.formatShortFileSize).
 */
object TransferText {
    /**
     * What happened beyond the progress, or null: "Reconnecting…", "Resumed at 12 MB",
     * "3 already there, skipped" (joined with " · ").
     */
    fun notes(t: Transfer, size: (Long) -> String): String? {
        val parts = buildList {
            if (t.retrying && !t.state.finished) add("Reconnecting…")
            t.resumedAtBytes?.takeIf { it > 0 }?.let { add("Resumed at ${size(it)}") }
            // A receiver skips what it has; a sender cannot tell that from files its user left out.
            if (t.filesSkipped > 0) add(if (t.direction == Direction.RECEIVE) "${t.filesSkipped} already there, skipped" else "${t.filesSkipped} skipped by the receiver")
        }
        return parts.takeIf { it.isNotEmpty() }?.joinToString(" · ")
    }

    /** "2.1 MB/s · 1 min left" while bytes move and the speed means something; null otherwise. */
    fun speed(t: Transfer, size: (Long) -> String): String? {
        if (t.state != TransferState.RUNNING || t.retrying) return null
        val rate = t.bytesPerSecond ?: return null
        val left = t.secondsLeft?.let { " · ${formatTimeLeft(it)} left" } ?: ""
        return "${size(rate)}/s$left"
    }
}

/** "Saved 3 files from Anna": files saved without anyone being asked (quick save). [alias] is shown safe. */
data class QuickSaveNotice(val transferId: String, val files: Int, val alias: String) {
    val title: String get() = if (files == 1) "Saved 1 file from $alias" else "Saved $files files from $alias"

    companion object {
        /**
         * The notice for [t], or null when it is not one: only a receive saved without asking
         * that ended with files saved ([entry], its history entry, counts them when known).
         */
        fun of(t: Transfer, entry: HistoryEntry?): QuickSaveNotice? {
            if (t.direction != Direction.RECEIVE || !t.savedWithoutAsking || t.state != TransferState.DONE) return null
            val files = entry?.files?.size?.takeIf { it > 0 } ?: t.filesDone
            if (files <= 0) return null
            return QuickSaveNotice(t.id, files, shownName(t.peerAlias))
        }
    }
}
