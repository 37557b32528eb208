package app.ferry.logic

import app.ferry.core.FerryException
import app.ferry.core.qrCode
import kotlinx.coroutines.launch

/** How pairing with a code (scanned, opened as a `ferry://pair` link, or pasted) ended, with its message for people. */
sealed class PairResult {
    abstract val message: String

    /** The device proved the code's fingerprint: trusted, and kept in the list. [alias] is shown safe. */
    data class Paired(val alias: String, val fingerprint: String) : PairResult() {
        override val message: String get() = "Paired with “$alias”: its certificate matches the code. It is now trusted."
    }

    /** A device answered at the code's address with another certificate: nothing trusted. */
    object Mismatch : PairResult() {
        override val message: String =
            "Another device answered with a different certificate: not paired. The code may be old (that device was reset), or someone is in between."
    }

    /** Nothing answered at the code's addresses. */
    object NothingAnswered : PairResult() {
        override val message: String =
            "Nothing answered at the code's addresses. Is Ferry open and receiving on the other device, on the same network?"
    }

    /** Not a pairing code (or this device's own); [reason] is shown safe. */
    data class Invalid(val reason: String) : PairResult() {
        override val message: String get() = "This is not a Ferry pairing code that can be used here: $reason"
    }

    /** Anything else (the node is not running, a local error); [reason] is shown safe. */
    data class Failed(val reason: String) : PairResult() {
        override val message: String get() = "Pairing failed: $reason"
    }

    companion object {
        /** The result for what `pair` threw. */
        fun of(e: Throwable): PairResult = when (e) {
            is FerryException.FingerprintMismatch -> Mismatch
            is FerryException.Network, is FerryException.Timeout, is FerryException.Tls -> NothingAnswered
            is FerryException.InvalidInput -> Invalid(shownName(e.message.orEmpty().ifBlank { "malformed" }))
            is IllegalStateException -> Failed("Ferry is not running")
            else -> Failed(shownName(e.message.orEmpty().ifBlank { e::class.java.simpleName }))
        }
    }
}

/** Pairing codes as links (`ferry://pair?v=1&fp=...`): what the app takes from an intent or a scan. */
object PairingLink {
    /** Longest code taken (a code with many addresses is a few hundred characters). */
    const val MAX_LENGTH = 2048

    /**
     * The pairing code in [text] (a VIEW intent's data, a scanned QR code, a pasted text), or
     * null when it is not one: scheme `ferry` and host `pair` (any case), no spaces or control
     * characters, at most [MAX_LENGTH]. The core checks the rest strictly.
     */
    fun of(text: String?): String? {
        val t = text?.trim() ?: return null
        if (t.isEmpty() || t.length > MAX_LENGTH) return null
        if (t.any { it.isWhitespace() || it.isISOControl() || Character.getType(it) == Character.FORMAT.toInt() }) return null
        if (!t.regionMatches(0, PREFIX, 0, PREFIX.length, ignoreCase = true)) return null
        return t
    }

    private const val PREFIX = "ferry://pair?"
}

/**
 * A QR code ready to draw: [size] modules a side, the [quiet] zone of light modules around the
 * code's own included (scanners need it), dark on light whatever the theme.
 */
class QrImage(private val code: Int, private val dark: List<Boolean>, val quiet: Int) {
    /** Modules a side, quiet zone included. */
    val size: Int get() = code + 2 * quiet

    /** Whether the module at column [x], row [y] (0 until [size]) is dark; the quiet zone is light. */
    fun isDark(x: Int, y: Int): Boolean {
        val cx = x - quiet
        val cy = y - quiet
        if (cx !in 0 until code || cy !in 0 until code) return false
        return dark[cy * code + cx]
    }

    companion object {
        /** The QR code of [text] (error correction M, or L when M does not fit), or null when it does not fit at all. */
        fun of(text: String, quiet: Int = 4): QrImage? {
            val qr = qrCode(text) ?: return null
            val n = qr.size.toInt()
            if (n <= 0 || qr.dark.size != n * n) return null
            return QrImage(n, qr.dark, quiet)
        }
    }
}

/** Where a pairing code came from. */
enum class PairingSource {
    /** Scanned in the app ("Scan"): the user is pairing right now. */
    SCAN,

    /** Typed or pasted in the app. */
    PASTE,

    /** Opened as a `ferry://pair` link (the camera app, a web page, another app): confirmed first. */
    LINK,
}

/**
 * The "Pair with QR" screen: this device's code and QR image, a code waiting for the user's
 * confirmation, and how the last pairing went. A code from a link is never paired without the
 * user's yes (any web page can open a `ferry://` link); a scanned or pasted one is paired at once.
 *
 * @param ownCode this device's pairing code (throws when the node does not run).
 * @param pair pairs with a code (FerryController.pair).
 */
class PairingModel(
    private val scope: kotlinx.coroutines.CoroutineScope,
    private val ownCode: () -> String,
    private val pair: suspend (String) -> PairResult,
) {
    data class State(
        /** This device's code, or null when the node does not run. */
        val ownCode: String? = null,
        val qr: QrImage? = null,
        /** A code from a link, waiting for Pair or Cancel. */
        val confirm: String? = null,
        val busy: Boolean = false,
        val result: PairResult? = null,
    ) {
        /** The start of [confirm]'s fingerprint in groups ("AB12 CD34 EF56 7890"), to compare with the other screen. */
        val confirmFingerprint: String? get() = confirm?.let(::fingerprintOf)
    }

    private val _state = kotlinx.coroutines.flow.MutableStateFlow<State?>(null)
    /** Null while the screen is closed. */
    val state: kotlinx.coroutines.flow.StateFlow<State?> = _state

    /** Opens the screen (again: its own code is read afresh, the node may have restarted). */
    fun open() {
        val code = runCatching { ownCode() }.getOrNull()
        _state.value = (_state.value ?: State()).copy(ownCode = code, qr = code?.let { QrImage.of(it) })
    }

    fun close() {
        _state.value = null
    }

    /** A code arrived (the screen opens if it was closed). Not a pairing code: said so; from a link: asked first. */
    fun offer(text: String?, source: PairingSource) {
        if (_state.value == null) open()
        val code = PairingLink.of(text)
        if (code == null) {
            _state.value = _state.value?.copy(confirm = null, result = PairResult.Invalid("it does not start with ferry://pair"))
            return
        }
        if (source == PairingSource.LINK) {
            _state.value = _state.value?.copy(confirm = code, result = null)
            return
        }
        start(code)
    }

    /** The user said yes to the code from a link. */
    fun confirm() {
        val code = _state.value?.confirm ?: return
        start(code)
    }

    /** The user said no to the code from a link. */
    fun dismissConfirm() {
        _state.value = _state.value?.copy(confirm = null)
    }

    private fun start(code: String) {
        if (_state.value?.busy == true) return
        _state.value = _state.value?.copy(confirm = null, busy = true, result = null)
        scope.launch {
            val r = try { pair(code) } catch (e: Exception) { PairResult.of(e) }
            _state.value = _state.value?.copy(busy = false, result = r)
        }
    }

    private companion object {
        fun fingerprintOf(code: String): String? =
            Regex("[?&]fp=([0-9A-Fa-f]{64})(&|$)").find(code)?.groupValues?.get(1)?.take(16)?.uppercase()?.chunked(4)?.joinToString(" ")
    }
}
