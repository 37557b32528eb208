package app.ferry.android

import android.content.Context
import android.text.format.DateUtils
import android.text.format.Formatter
import app.ferry.core.FerryException
import java.io.IOException

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

fun Context.formatTime(atMs: Long): String =
    DateUtils.formatDateTime(this, atMs, DateUtils.FORMAT_SHOW_DATE or DateUtils.FORMAT_SHOW_TIME or DateUtils.FORMAT_ABBREV_MONTH)

/** The verification code in groups of four digits, as both screens show it. */
fun formatCode(code: String): String =
    if (code.any(Char::isWhitespace)) code.trim() else code.chunked(4).joinToString(" ")

/** The start of a fingerprint, enough to tell devices apart at a glance. */
fun shortFingerprint(fingerprint: String): String = fingerprint.take(8).uppercase().chunked(4).joinToString(" ")
