package app.ferry.logic

import app.ferry.core.DeviceKind
import app.ferry.core.OfferedFile

/** A device in the nearby list: found now, or a favorite that is not around. */
data class NearbyDevice(
    val fingerprint: String,
    val alias: String,
    val kind: DeviceKind,
    val model: String?,
    /** `host:port` to reach it, or null. */
    val address: String?,
    /** A TLS handshake proved its fingerprint. */
    val verified: Boolean,
    val encryption: Boolean,
    val favorite: Boolean,
    /** Found by discovery (or answered) in this run; false for a favorite not seen. */
    val online: Boolean,
)

/** A transfer waiting for the user's answer. */
data class PendingRequest(
    val sessionId: String,
    val senderAlias: String,
    val senderModel: String?,
    val senderKind: DeviceKind,
    val senderFingerprint: String,
    val senderAddress: String,
    /** Its certificate proved the fingerprint (HTTPS). */
    val verified: Boolean,
    val trusted: Boolean,
    /** The code both users compare ("1234 5678 9012 3456"). */
    val verificationCode: String,
    val files: List<OfferedFile>,
    val totalSize: Long,
    val receivedAtMs: Long,
    /** Empty folders the request also creates: with [files], what the user accepts. */
    val emptyFolders: Int = 0,
)

/**
 * Someone sent wrong PINs to this device (Ferry tells at most one every 2 seconds, and when a
 * lock starts): shown until the user dismisses it.
 */
data class PinWarning(
    /** The address the last wrong PIN came from, as the node saw it (show [shownAddress]). */
    val address: String,
    /** Wrong PINs this device counted recently, from every address together. */
    val failures: Int,
    /** Until when (ms, the controller's clock) PIN checks are locked for everyone but trusted devices; null when they are not. */
    val lockedUntilMs: Long?,
    /** When the last wrong PIN was told (the controller's clock). */
    val atMs: Long,
) {
    /** [address] made safe to show on one line. */
    val shownAddress: String get() = shownName(address)

    /** PIN checks are locked at [nowMs]. */
    fun locked(nowMs: Long): Boolean = lockedUntilMs != null && nowMs < lockedUntilMs
}

enum class Direction { SEND, RECEIVE }

enum class TransferState {
    /** Connecting, or waiting for the receiver's answer. */
    WAITING,
    RUNNING,
    DONE,
    FAILED,
    CANCELLED,
    DECLINED;

    val finished: Boolean get() = this != WAITING && this != RUNNING
}

/** The stable kinds of [Transfer.errorKind] an app acts on (ferry-ffi's error kinds). */
object ErrorKinds {
    const val PIN_REQUIRED = "pin_required"
    const val INVALID_PIN = "invalid_pin"
    const val TOO_MANY_ATTEMPTS = "too_many_attempts"
    const val DECLINED = "declined"
    const val CANCELLED = "cancelled"
    const val BUSY = "busy"
    const val NETWORK = "network"
    const val TIMEOUT = "timeout"
    const val FINGERPRINT_MISMATCH = "fingerprint_mismatch"
}

data class Transfer(
    /** "send-<start ms>-N" or "receive-<session id>"; also the id of its [HistoryEntry] once it ends. */
    val id: String,
    val direction: Direction,
    val peerAlias: String,
    val peerFingerprint: String?,
    val fileNames: List<String>,
    val bytesDone: Long,
    val bytesTotal: Long,
    val filesDone: Int,
    val filesFailed: Int,
    val state: TransferState,
    /** Why it failed, for people. */
    val message: String? = null,
    /** The stable error kind of a failed send ("declined", "pin_required", ...). */
    val errorKind: String? = null,
    val startedAtMs: Long,
    /** The connection broke and Ferry is reconnecting (FerryController.retryNow tries at once). */
    val retrying: Boolean = false,
    /** Where the last resumed file continued (bytes kept from an interrupted transfer), or null. */
    val resumedAtBytes: Long? = null,
    /** Files left out because the receiver already had them ("3 already there, skipped"). */
    val filesSkipped: Int = 0,
    /** Received without anyone being asked (quick save: a trusted device, or everyone). */
    val savedWithoutAsking: Boolean = false,
    /** Smoothed speed in bytes per second, null until it means something ([RateMeter]). */
    val bytesPerSecond: Long? = null,
    /** Seconds left at [bytesPerSecond], null until it means something ([timeLeftSeconds]). */
    val secondsLeft: Long? = null,
) {
    /** 0..1, or null while the size is unknown. */
    val fraction: Float? get() = if (bytesTotal > 0) (bytesDone.toDouble() / bytesTotal).toFloat().coerceIn(0f, 1f) else null
}

/** An internal failure caught in a call from the node ([what] it was doing): for logs and bug reports. */
data class Problem(val what: String, val message: String, val atMs: Long)

/** A text message that arrived. */
data class ReceivedText(
    val id: Long,
    val senderAlias: String,
    val senderFingerprint: String,
    val verified: Boolean,
    val text: String,
    val atMs: Long,
)

/** A trusted device and the code to compare with its user. */
data class TrustedEntry(val fingerprint: String, val alias: String?, val verificationCode: String)

/** The node's state. */
sealed class NodeState {
    object Stopped : NodeState()
    data class Running(val fingerprint: String, val port: Int) : NodeState()
    data class Failed(val message: String) : NodeState()
}
