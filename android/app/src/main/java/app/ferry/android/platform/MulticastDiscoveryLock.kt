package app.ferry.android.platform

import android.content.Context
import android.net.wifi.WifiManager
import android.util.Log
import app.ferry.logic.DiscoveryLock

/**
 * Wi-Fi drivers drop multicast packets to save power unless an app holds a multicast lock:
 * the controller holds this one only while it discovers (a scan, or the nearby list on screen).
 */
class MulticastDiscoveryLock(context: Context) : DiscoveryLock {
    private val lock: WifiManager.MulticastLock? =
        context.applicationContext.getSystemService(WifiManager::class.java)
            ?.createMulticastLock("ferry")
            ?.apply { setReferenceCounted(false) }

    @Synchronized
    override fun acquire() {
        val l = lock ?: return
        try {
            if (!l.isHeld) l.acquire()
        } catch (e: RuntimeException) {
            // No Wi-Fi service (an emulator image, a TV box on Ethernet): discovery still runs.
            Log.w(TAG, "cannot hold the multicast lock", e)
        }
    }

    @Synchronized
    override fun release() {
        val l = lock ?: return
        try {
            if (l.isHeld) l.release()
        } catch (e: RuntimeException) {
            Log.w(TAG, "cannot release the multicast lock", e)
        }
    }

    private companion object {
        const val TAG = "Ferry"
    }
}
