package app.ferry.logic

import app.ferry.core.OfferedFile

/** Keeps multicast packets coming while discovering (Android: WifiManager.MulticastLock). */
interface DiscoveryLock {
    fun acquire()
    fun release()

    object None : DiscoveryLock {
        override fun acquire() {}
        override fun release() {}
    }
}

/** An incoming file's final place, opened for writing, e.g. a MediaStore entry or a SAF document. */
interface SavedDocument {
    /** An open, writable descriptor Ferry takes over (Android: ParcelFileDescriptor.detachFd()). */
    val fd: Int
    /** Where it is (a content URI or a path), to open it later. */
    val location: String
    /** Every byte arrived: make it visible (MediaStore: clear IS_PENDING). */
    fun publish()
    /** It failed or was cancelled: remove it. */
    fun discard()
}

/** Creates documents for incoming files in the user's chosen [Destination]. */
fun interface DocumentSaver {
    /** Throws (any exception; its message is shown) when the file cannot be created. */
    fun create(destination: Destination, sessionId: String, file: OfferedFile): SavedDocument
}

/** What the controller needs to know about the device it runs on. */
data class DeviceInfo(
    val defaultAlias: String,
    val model: String,
    val kind: app.ferry.core.DeviceKind,
    /** Received files go here when the destination is not a document saver's (and for folders' empty directories). */
    val fallbackReceiveDir: java.io.File,
)

/** Network options for special setups (tests: discovery off, loopback only). */
data class NetworkOptions(
    val discovery: Boolean = true,
    val bindAddress: String? = null,
    val interfacesInclude: List<String> = emptyList(),
    val interfacesExclude: List<String> = emptyList(),
    /** How long the discovery lock is kept after a scan, for late answers. */
    val scanLingerMs: Long = 2_000,
    /** While the nearby list is shown, it is rescanned this often. */
    val rescanEveryMs: Long = 30_000,
)
