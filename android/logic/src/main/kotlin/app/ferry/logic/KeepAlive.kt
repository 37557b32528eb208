package app.ferry.logic

/**
 * What keeps Ferry alive on Android, decided here (plain Kotlin, tested on the JVM) and applied
 * by the app's service: which foreground service types it runs with, and which locks it holds.
 *
 * - Every running transfer, sent or received, is `dataSync` work: a send started from the share
 *   sheet must outlive the sheet (Android 14+ freezes cached processes).
 * - Listening for requests while idle is not data sync (Android 15+ allows that type 6 hours a
 *   day, and it is meant for transfers): from Android 14 it runs as `specialUse` (declared with
 *   its reason in the manifest); before, as `dataSync`, which had no daily limit then.
 * - While bytes move (not while a send waits for an answer): a partial wake lock (the CPU runs
 *   with the screen off) and a Wi-Fi lock that keeps the radio out of power save.
 */
object KeepAlive {
    /** Android 10: foreground service types passed to startForeground, and WIFI_MODE_FULL_LOW_LATENCY. */
    const val API_Q = 29
    /** Android 14: the `specialUse` type; WIFI_MODE_FULL_HIGH_PERF is replaced by the low-latency mode. */
    const val API_UPSIDE_DOWN_CAKE = 34
    /** Android 15: `dataSync` is limited to 6 hours a day (Service.onTimeout). */
    const val API_VANILLA_ICE_CREAM = 35

    /** A foreground service type (the app maps them to ServiceInfo.FOREGROUND_SERVICE_TYPE_*). */
    enum class ServiceType { DATA_SYNC, SPECIAL_USE }

    /** A Wi-Fi lock mode (WifiManager.WIFI_MODE_*). */
    enum class WifiLockMode { FULL_HIGH_PERF, FULL_LOW_LATENCY }

    /** What the app's state is. */
    data class Input(
        /** Build.VERSION.SDK_INT. */
        val sdk: Int,
        /** The "receive in background" setting (receiving on). */
        val receiveInBackground: Boolean,
        /** The permissions receiving needs are granted (the local network one). */
        val canListen: Boolean,
        /** Running and finished transfers, as [FerryController.transfers] has them. */
        val transfers: List<Transfer>,
        /** Android 15+ said the day's data sync time is used up (Service.onTimeout), until the app is opened again. */
        val dataSyncExhausted: Boolean = false,
    )

    /**
     * What to run: the service (with [types]; none means stopped), whether it listens for
     * requests (else it is there for transfers only, and stops when they end), and the locks.
     */
    data class Plan(val types: Set<ServiceType>, val listening: Boolean, val wakeLock: Boolean, val wifiLock: WifiLockMode?) {
        val service: Boolean get() = types.isNotEmpty()
    }

    fun plan(input: Input): Plan {
        val running = input.transfers.filter { !it.state.finished }
        val moving = running.any { it.state == TransferState.RUNNING }
        val types = LinkedHashSet<ServiceType>()
        val dataSyncAllowed = !(input.dataSyncExhausted && input.sdk >= API_VANILLA_ICE_CREAM)
        if (running.isNotEmpty() && dataSyncAllowed) types.add(ServiceType.DATA_SYNC)
        var listening = input.receiveInBackground && input.canListen
        if (listening) {
            val t = listenType(input.sdk)
            if (t != ServiceType.DATA_SYNC || dataSyncAllowed) types.add(t) else listening = false
        }
        return Plan(types, listening, wakeLock = moving, wifiLock = if (moving) wifiLockMode(input.sdk) else null)
    }

    /** The type of the idle listening service. */
    fun listenType(sdk: Int): ServiceType = if (sdk >= API_UPSIDE_DOWN_CAKE) ServiceType.SPECIAL_USE else ServiceType.DATA_SYNC

    /**
     * The Wi-Fi lock for a transfer: high performance up to Android 13 (it works with the screen
     * off, where the low-latency one does not); from Android 14 high performance is deprecated
     * and replaced by low latency anyway.
     */
    fun wifiLockMode(sdk: Int): WifiLockMode =
        if (sdk >= API_UPSIDE_DOWN_CAKE) WifiLockMode.FULL_LOW_LATENCY else WifiLockMode.FULL_HIGH_PERF
}

/** How an incoming request is put in front of the user: one place at a time, never both. */
enum class RequestPrompt {
    /** The app is on screen: its request sheet. */
    SHEET,
    /** The app is in the background and may notify: a notification with Accept and Decline. */
    NOTIFICATION,
    /** The app is in the background and may not notify: nobody sees it until the app is opened (say so in the app). */
    UNSEEN,
    ;

    companion object {
        fun of(appOnScreen: Boolean, canNotify: Boolean): RequestPrompt = when {
            appOnScreen -> SHEET
            canNotify -> NOTIFICATION
            else -> UNSEEN
        }

        /**
         * The warning the app shows (settings, the receiving card) when requests would go unseen:
         * receiving in the background is on and notifications are not allowed.
         */
        fun unseenWhenInBackground(receiveInBackground: Boolean, canNotify: Boolean): Boolean = receiveInBackground && !canNotify
    }
}

/**
 * Runtime permissions by Android version (the app maps them to Manifest.permission names and
 * asks before it needs them).
 */
object PermissionPolicy {
    enum class Permission(val manifestName: String, val fromSdk: Int, val toSdk: Int) {
        /** Android 17: local network access (discovery, sending, receiving). */
        ACCESS_LOCAL_NETWORK("android.permission.ACCESS_LOCAL_NETWORK", 37, Int.MAX_VALUE),
        /**
         * Android 16: the local network protection (opt-in there, enforced on devices and test
         * builds that turn it on) keys on this one; from Android 17 ACCESS_LOCAL_NETWORK does.
         * Below 16 it guards Wi-Fi APIs Ferry does not use (scans, Wi-Fi Direct, Aware).
         */
        NEARBY_WIFI_DEVICES("android.permission.NEARBY_WIFI_DEVICES", 36, 36),
        /** Android 13: notifications (requests while in the background, progress, results). */
        POST_NOTIFICATIONS("android.permission.POST_NOTIFICATIONS", 33, Int.MAX_VALUE),
        /** Android 8 and 9: saving into the public Downloads folder. */
        WRITE_EXTERNAL_STORAGE("android.permission.WRITE_EXTERNAL_STORAGE", 0, 28),
        ;

        fun applies(sdk: Int): Boolean = sdk in fromSdk..toSdk
    }

    /** Finding devices, sending (and receiving while on screen). */
    val network: List<Permission> = listOf(Permission.ACCESS_LOCAL_NETWORK, Permission.NEARBY_WIFI_DEVICES)

    /** Receiving with the app in the background. */
    val receiving: List<Permission> = network + listOf(Permission.POST_NOTIFICATIONS, Permission.WRITE_EXTERNAL_STORAGE)

    /** Those of [wanted] this Android version has. */
    fun applicable(sdk: Int, wanted: List<Permission>): List<Permission> = wanted.filter { it.applies(sdk) }
}
