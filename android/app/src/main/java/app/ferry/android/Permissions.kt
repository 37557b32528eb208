package app.ferry.android

import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import androidx.annotation.StringRes
import androidx.core.app.NotificationManagerCompat
import androidx.core.content.ContextCompat
import app.ferry.logic.PermissionPolicy

/**
 * A runtime permission Ferry asks for, on the Android versions where it exists, and why. Which
 * versions, and which permission for what, is [PermissionPolicy]'s (in :logic, tested).
 */
enum class FerryPermission(
    private val policy: PermissionPolicy.Permission,
    @param:StringRes val title: Int,
    @param:StringRes val rationale: Int,
) {
    /** Android 17: any traffic on the local network (finding devices, sending, receiving). */
    LOCAL_NETWORK(
        PermissionPolicy.Permission.ACCESS_LOCAL_NETWORK, R.string.permission_local_network, R.string.permission_local_network_rationale,
    ),

    /** Android 16: what its local network protection keys on (the same question to the user). */
    NEARBY_WIFI(
        PermissionPolicy.Permission.NEARBY_WIFI_DEVICES, R.string.permission_local_network, R.string.permission_local_network_rationale,
    ),

    /** Android 13: asking about incoming files and telling how transfers ended while Ferry is in the background. */
    NOTIFICATIONS(
        PermissionPolicy.Permission.POST_NOTIFICATIONS, R.string.permission_notifications, R.string.permission_notifications_rationale,
    ),

    /** Android 8 and 9: saving into the public Downloads folder. */
    STORAGE(PermissionPolicy.Permission.WRITE_EXTERNAL_STORAGE, R.string.permission_storage, R.string.permission_storage_rationale);

    /** The manifest name (a string, so that this compiles against SDKs that do not have the constant). */
    val permission: String get() = policy.manifestName

    /** Whether this Android version has (and needs) the permission. */
    val applies: Boolean get() = policy.applies(Build.VERSION.SDK_INT)

    fun granted(context: Context): Boolean =
        !applies || ContextCompat.checkSelfPermission(context, permission) == PackageManager.PERMISSION_GRANTED

    companion object {
        fun of(p: PermissionPolicy.Permission): FerryPermission = entries.first { it.policy == p }
    }
}

/**
 * Which permissions are needed when ([PermissionPolicy]): the local network one (Android 17;
 * NEARBY_WIFI_DEVICES on Android 16, where the local network protection keys on it) before
 * discovery, sending and receiving; notifications (and, on Android 8/9, storage) before receiving
 * starts.
 */
object Permissions {
    /** Finding devices and sending. */
    val network: List<FerryPermission> = PermissionPolicy.network.map(FerryPermission::of)

    /** Receiving with the app in the background. */
    val receiving: List<FerryPermission> = PermissionPolicy.receiving.map(FerryPermission::of)

    fun missing(context: Context, permissions: List<FerryPermission>): List<FerryPermission> =
        permissions.filter { it.applies && !it.granted(context) }

    /** Receiving works without notifications (requests then show in the app only), not without the network. */
    fun canReceive(context: Context): Boolean = network.all { it.granted(context) }

    /** Notifications can be shown: the permission (Android 13+) and the app's switch in the system settings (any version). */
    fun canNotify(context: Context): Boolean =
        FerryPermission.NOTIFICATIONS.granted(context) && NotificationManagerCompat.from(context).areNotificationsEnabled()
}
