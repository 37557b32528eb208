package app.ferry.android.platform

import android.content.Context
import android.net.wifi.WifiManager
import android.os.PowerManager
import android.util.Log
import app.ferry.logic.KeepAlive

/**
 * The locks a transfer holds while bytes move ([KeepAlive.Plan]): a partial wake lock (the CPU
 * keeps running with the screen off) and a Wi-Fi lock that keeps the radio out of power save.
 * Applied by the service; each lock is created lazily and released when the plan says so.
 */
class TransferLocks(context: Context) {
    private val app = context.applicationContext
    private val wake: PowerManager.WakeLock? =
        app.getSystemService(PowerManager::class.java)?.newWakeLock(PowerManager.PARTIAL_WAKE_LOCK, "ferry:transfer")
            ?.apply { setReferenceCounted(false) }
    private var wifi: WifiManager.WifiLock? = null
    private var wifiMode: KeepAlive.WifiLockMode? = null

    /** Holds or releases the locks as [plan] says. Called again while a transfer runs, it extends the wake lock's timeout. */
    @Synchronized
    fun apply(plan: KeepAlive.Plan) {
        try {
            if (plan.wakeLock) wake?.acquire(WAKE_TIMEOUT_MS) else if (wake?.isHeld == true) wake.release()
        } catch (e: RuntimeException) {
            Log.w(TAG, "wake lock", e)
        }
        val mode = plan.wifiLock
        if (mode != wifiMode) {
            releaseWifi()
            if (mode != null) acquireWifi(mode)
        }
    }

    @Synchronized
    fun releaseAll() {
        try {
            if (wake?.isHeld == true) wake.release()
        } catch (e: RuntimeException) {
            Log.w(TAG, "wake lock", e)
        }
        releaseWifi()
    }

    private fun acquireWifi(mode: KeepAlive.WifiLockMode) {
        val type = when (mode) {
            // Deprecated from Android 14, where the plan asks for low latency instead.
            @Suppress("DEPRECATION")
            KeepAlive.WifiLockMode.FULL_HIGH_PERF -> WifiManager.WIFI_MODE_FULL_HIGH_PERF
            KeepAlive.WifiLockMode.FULL_LOW_LATENCY -> WifiManager.WIFI_MODE_FULL_LOW_LATENCY
        }
        try {
            wifi = app.getSystemService(WifiManager::class.java)?.createWifiLock(type, "ferry:transfer")?.apply {
                setReferenceCounted(false)
                acquire()
            }
            wifiMode = mode
        } catch (e: RuntimeException) {
            // No Wi-Fi service (an emulator image, a box on Ethernet): the transfer goes on.
            Log.w(TAG, "cannot hold the Wi-Fi lock", e)
        }
    }

    private fun releaseWifi() {
        try {
            wifi?.takeIf { it.isHeld }?.release()
        } catch (e: RuntimeException) {
            Log.w(TAG, "Wi-Fi lock", e)
        }
        wifi = null
        wifiMode = null
    }

    private companion object {
        const val TAG = "Ferry"
        /** A wake lock always has a timeout; a transfer that runs longer extends it (apply is called on each update). */
        const val WAKE_TIMEOUT_MS = 30 * 60_000L
    }
}
