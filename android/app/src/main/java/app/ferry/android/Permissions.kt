package app.ferry.android

import android.Manifest
import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import androidx.annotation.StringRes
import androidx.core.content.ContextCompat

/** A runtime permission Ferry asks for, on the Android versions where it exists, and why. */
enum class FerryPermission(
    val permission: String,
    private val fromSdk: Int,
    private val toSdk: Int,
    @param:StringRes val title: Int,
    @param:StringRes val rationale: Int,
) {
    /** Android 17: any traffic on the local network (finding devices, sending, receiving). */
    LOCAL_NETWORK(Permissions.ACCESS_LOCAL_NETWORK, 37, Int.MAX_VALUE, R.string.permission_local_network, R.string.permission_local_network_rationale),

    /** Android 13: asking about incoming files and telling how transfers ended while Ferry is in the background. */
    NOTIFICATIONS(Manifest.permission.POST_NOTIFICATIONS, 33, Int.MAX_VALUE, R.string.permission_notifications, R.string.permission_notifications_rationale),

    /** Android 8 and 9: saving into the public Downloads folder. */
    STORAGE(Manifest.permission.WRITE_EXTERNAL_STORAGE, 0, 28, R.string.permission_storage, R.string.permission_storage_rationale);

    /** Whether this Android version has (and needs) the permission. */
    val applies: Boolean get() = Build.VERSION.SDK_INT in fromSdk..toSdk

    fun granted(context: Context): Boolean =
        !applies || ContextCompat.checkSelfPermission(context, permission) == PackageManager.PERMISSION_GRANTED
}

/**
 * Which permissions are needed when. The local network one before discovery, sending and
 * receiving; notifications (and, on Android 8/9, storage) before receiving starts. Android 16's
 * opt-in local network protection (NEARBY_WIFI_DEVICES) is declared, not requested: it only
 * applies to apps that opt in to it.
 */
object Permissions {
    /** The string itself, so that this compiles against SDKs that do not have the constant. */
    const val ACCESS_LOCAL_NETWORK = "android.permission.ACCESS_LOCAL_NETWORK"

    /** Finding devices and sending. */
    val network: List<FerryPermission> = listOf(FerryPermission.LOCAL_NETWORK)

    /** Receiving with the app in the background. */
    val receiving: List<FerryPermission> = listOf(FerryPermission.LOCAL_NETWORK, FerryPermission.NOTIFICATIONS, FerryPermission.STORAGE)

    fun missing(context: Context, permissions: List<FerryPermission>): List<FerryPermission> =
        permissions.filter { it.applies && !it.granted(context) }

    /** Receiving works without notifications (requests then show in the app only), not without the network. */
    fun canReceive(context: Context): Boolean = FerryPermission.LOCAL_NETWORK.granted(context)

    fun canNotify(context: Context): Boolean = FerryPermission.NOTIFICATIONS.granted(context)
}
