package app.ferry.logic

import app.ferry.core.DeviceKind
import app.ferry.core.ReceiveMode
import java.io.File
import java.util.Properties

/** Who may send without being asked. */
enum class QuickSave {
    /** Every transfer is asked about, from trusted devices too. */
    OFF,
    /** Trusted (verified) devices are saved at once; others are asked about. */
    TRUSTED,
    /** Everything is saved at once. */
    EVERYONE;

    val receiveMode: ReceiveMode
        get() = when (this) {
            OFF -> ReceiveMode.ASK_ALL
            TRUSTED -> ReceiveMode.ASK
            EVERYONE -> ReceiveMode.ACCEPT_ALL
        }
}

/** Where received files go. */
sealed class Destination {
    /** The shared Downloads collection (Android: MediaStore, in a "Ferry" folder). */
    object Downloads : Destination()

    /** A folder the user picked (Android: a Storage Access Framework tree URI). */
    data class Folder(val uri: String, val label: String) : Destination()

    /** A plain directory (desktop JVMs, tests). */
    data class Directory(val path: String) : Destination()
}

/** A device kept in the list even when it is not around, reached directly at [address]. */
data class Favorite(val fingerprint: String, val alias: String, val address: String?, val kind: DeviceKind = DeviceKind.MOBILE)

data class Settings(
    val alias: String,
    val deviceKind: DeviceKind = DeviceKind.MOBILE,
    /** 53317 is LocalSend's port; 0 takes any free one. */
    val port: Int = DEFAULT_PORT,
    /** HTTPS (every LocalSend app's default) or plain HTTP. */
    val encryption: Boolean = true,
    /** A PIN senders must give, or null. */
    val pin: String? = null,
    val quickSave: QuickSave = QuickSave.OFF,
    val destination: Destination = Destination.Downloads,
    /** Receiving stays on (Android: the foreground service runs). */
    val receiving: Boolean = true,
    val favorites: List<Favorite> = emptyList(),
    /** Files the receive folder already has (same path, size, checksum or modified time) are left out; senders see them skipped. */
    val skipExisting: Boolean = false,
) {
    /** Throws IllegalArgumentException with a message for people when a value is unusable. */
    fun validate(): Settings {
        require(alias.isNotBlank()) { "The device name cannot be empty." }
        require(alias.length <= MAX_ALIAS) { "The device name is longer than $MAX_ALIAS characters." }
        require(port == 0 || port in 1024..65535) { "The port must be between 1024 and 65535." }
        pin?.let {
            require(it.isNotEmpty() && it.length <= MAX_PIN) { "The PIN must have 1 to $MAX_PIN characters." }
            require(it.none(Char::isWhitespace)) { "The PIN cannot contain spaces." }
        }
        return this
    }

    /** What the node does with requests: quick save while receiving; asked (and declined) when not. */
    val receiveMode: ReceiveMode
        get() = if (receiving) quickSave.receiveMode else ReceiveMode.ASK_ALL

    /** Whether going from this to [other] needs the node restarted. */
    fun needsRestart(other: Settings): Boolean =
        alias != other.alias || deviceKind != other.deviceKind || port != other.port ||
            encryption != other.encryption || pin != other.pin || receiveMode != other.receiveMode || skipExisting != other.skipExisting ||
            (destination is Destination.Directory || other.destination is Destination.Directory) && destination != other.destination

    companion object {
        const val DEFAULT_PORT = 53317
        const val MAX_ALIAS = 64
        const val MAX_PIN = 32
    }
}

/**
 * Settings in a properties file, written atomically (a temporary file renamed over the old
 * one), so that a crash never leaves half a file.
 */
class SettingsStore(private val file: File, private val defaults: () -> Settings) {

    @Synchronized
    fun load(): Settings {
        val d = defaults()
        if (!file.exists()) return d
        val p = Properties()
        try {
            file.inputStream().use { p.load(it) }
        } catch (_: java.io.IOException) {
            return d
        }
        val favorites = (0 until (p.getProperty("favorites")?.toIntOrNull() ?: 0)).mapNotNull { i ->
            val fp = p.getProperty("favorite.$i.fingerprint") ?: return@mapNotNull null
            Favorite(fp, p.getProperty("favorite.$i.alias") ?: fp.take(8), p.getProperty("favorite.$i.address"),
                p.getProperty("favorite.$i.kind")?.let { v -> DeviceKind.entries.firstOrNull { it.name == v } } ?: DeviceKind.MOBILE)
        }
        val destination = when (p.getProperty("destination")) {
            "folder" -> p.getProperty("destination.uri")?.let { Destination.Folder(it, p.getProperty("destination.label") ?: it) }
            "directory" -> p.getProperty("destination.path")?.let { Destination.Directory(it) }
            else -> null
        } ?: d.destination
        val s = Settings(
            alias = p.getProperty("alias") ?: d.alias,
            deviceKind = p.getProperty("deviceKind")?.let { v -> DeviceKind.entries.firstOrNull { it.name == v } } ?: d.deviceKind,
            port = p.getProperty("port")?.toIntOrNull() ?: d.port,
            encryption = p.getProperty("encryption")?.toBooleanStrictOrNull() ?: d.encryption,
            pin = p.getProperty("pin")?.takeIf { it.isNotEmpty() },
            quickSave = p.getProperty("quickSave")?.let { v -> QuickSave.entries.firstOrNull { it.name == v } } ?: d.quickSave,
            destination = destination,
            receiving = p.getProperty("receiving")?.toBooleanStrictOrNull() ?: d.receiving,
            favorites = favorites,
            skipExisting = p.getProperty("skipExisting")?.toBooleanStrictOrNull() ?: d.skipExisting,
        )
        return try { s.validate() } catch (_: IllegalArgumentException) { d }
    }

    @Synchronized
    fun save(s: Settings) {
        val p = Properties()
        p.setProperty("alias", s.alias)
        p.setProperty("deviceKind", s.deviceKind.name)
        p.setProperty("port", s.port.toString())
        p.setProperty("encryption", s.encryption.toString())
        s.pin?.let { p.setProperty("pin", it) }
        p.setProperty("quickSave", s.quickSave.name)
        when (val dest = s.destination) {
            Destination.Downloads -> p.setProperty("destination", "downloads")
            is Destination.Folder -> {
                p.setProperty("destination", "folder")
                p.setProperty("destination.uri", dest.uri)
                p.setProperty("destination.label", dest.label)
            }
            is Destination.Directory -> {
                p.setProperty("destination", "directory")
                p.setProperty("destination.path", dest.path)
            }
        }
        p.setProperty("receiving", s.receiving.toString())
        p.setProperty("skipExisting", s.skipExisting.toString())
        p.setProperty("favorites", s.favorites.size.toString())
        s.favorites.forEachIndexed { i, f ->
            p.setProperty("favorite.$i.fingerprint", f.fingerprint)
            p.setProperty("favorite.$i.alias", f.alias)
            f.address?.let { p.setProperty("favorite.$i.address", it) }
            p.setProperty("favorite.$i.kind", f.kind.name)
        }
        writeAtomically(file) { out -> p.store(out, "Ferry settings") }
    }
}

internal fun writeAtomically(file: File, write: (java.io.OutputStream) -> Unit) {
    file.parentFile?.mkdirs()
    val tmp = File(file.parentFile, ".${file.name}.tmp")
    java.io.FileOutputStream(tmp).use { out ->
        write(out)
        out.flush()
        out.fd.sync()
    }
    if (!tmp.renameTo(file)) {
        tmp.delete()
        throw java.io.IOException("cannot replace $file")
    }
}
