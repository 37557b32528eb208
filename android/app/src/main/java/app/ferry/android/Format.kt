package app.ferry.android

import android.content.Context
import android.text.format.DateUtils
import android.text.format.Formatter
import app.ferry.core.FerryException
import java.io.IOException
import java.text.DateFormat
import java.util.Date

/** A message for people about what went wrong. */
fun Context.userMessage(e: Throwable): String = when (e) {
    is FerryException.PinRequired -> getString(R.string.error_pin_required)
    is FerryException.InvalidPin -> getString(R.string.error_invalid_pin)
    is FerryException.TooManyAttempts -> getString(R.string.error_too_many_attempts)
    is FerryException.Declined -> getString(R.string.error_declined)
    is FerryException.Busy -> getString(R.string.error_busy)
    is FerryException.Timeout -> getString(R.string.error_timeout)
    is FerryException.Network -> getString(R.string.error_network, e.message.orEmpty())
    is FerryException.FingerprintMismatch -> getString(R.string.error_fingerprint)
    is FerryException -> e.message?.takeIf { it.isNotBlank() } ?: getString(R.string.error_generic)
    // The logic module's validation messages are written for people.
    is IllegalArgumentException -> e.message ?: getString(R.string.error_generic)
    // requireNode(): the node is not running (stopped, or it failed to start).
    is IllegalStateException -> getString(R.string.error_not_running)
    is SecurityException, is IOException -> e.message?.takeIf { it.isNotBlank() } ?: getString(R.string.error_generic)
    else -> getString(R.string.error_generic)
}

fun Context.formatSize(bytes: Long): String = Formatter.formatShortFileSize(this, bytes)

/** How many files and empty folders: "3 files, 2 empty folders"; "3 files" without folders, "1 empty folder" without files. */
fun Context.formatCounts(files: Int, emptyFolders: Int): String {
    val f = resources.getQuantityString(R.plurals.count_files, files, files)
    if (emptyFolders <= 0) return f
    val d = resources.getQuantityString(R.plurals.count_empty_folders, emptyFolders, emptyFolders)
    return if (files == 0) d else getString(R.string.list_two, f, d)
}

/** What a request holds: "3 files, 2 empty folders, 1.2 MB". */
fun Context.formatContents(files: Int, emptyFolders: Int, bytes: Long): String =
    getString(R.string.list_two, formatCounts(files, emptyFolders), formatSize(bytes))

/** A time of day to the second (PIN locks last seconds to minutes). */
fun formatClock(atMs: Long): String = DateFormat.getTimeInstance(DateFormat.MEDIUM).format(Date(atMs))

fun Context.formatTime(atMs: Long): String =
    DateUtils.formatDateTime(this, atMs, DateUtils.FORMAT_SHOW_DATE or DateUtils.FORMAT_SHOW_TIME or DateUtils.FORMAT_ABBREV_MONTH)

/** The verification code in groups of four digits, as both screens show it. */
fun formatCode(code: String): String =
    if (code.any(Char::isWhitespace)) code.trim() else code.chunked(4).joinToString(" ")

/** The start of a fingerprint, enough to tell devices apart at a glance. */
fun shortFingerprint(fingerprint: String): String = fingerprint.take(8).uppercase().chunked(4).joinToString(" ")
