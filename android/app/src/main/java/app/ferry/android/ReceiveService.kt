package app.ferry.android

import android.content.Context
import android.content.Intent
import android.content.pm.ServiceInfo
import android.os.Build
import android.util.Log
import androidx.core.app.ServiceCompat
import androidx.core.content.ContextCompat
import androidx.lifecycle.LifecycleService
import androidx.lifecycle.lifecycleScope
import app.ferry.logic.Transfer
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull

/**
 * Keeps Ferry receiving while the app is in the background: a foreground service (data sync)
 * that keeps the node running, asks about incoming transfers in notifications, shows progress
 * and tells how transfers ended. It runs while the "receiving" setting is on.
 */
class ReceiveService : LifecycleService() {
    private val app: FerryApp get() = application as FerryApp
    private var observing = false
    private var stopping = false

    // Main thread only (collected on lifecycleScope).
    private val postedRequests = HashSet<String>()
    private val postedTexts = HashSet<Long>()
    private var finishedSeen: MutableSet<String>? = null

    override fun onCreate() {
        super.onCreate()
        app.serviceRunning = true
    }

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        super.onStartCommand(intent, flags, startId)
        // startForegroundService() obliges the service to go foreground, even to stop at once.
        if (!goForeground()) {
            stopSelf(startId)
            return START_NOT_STICKY
        }
        if (!app.controller.settings.value.receiving) {
            stopReceiving()
            return START_NOT_STICKY
        }
        stopping = false
        if (!observing) {
            observing = true
            observe()
        }
        return START_STICKY
    }

    private fun goForeground(): Boolean = try {
        val c = app.controller
        val status = ServiceStatus(c.node.value, c.settings.value.alias, ServiceStatus.progressOf(c.transfers.value))
        val type = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) ServiceInfo.FOREGROUND_SERVICE_TYPE_DATA_SYNC else 0
        ServiceCompat.startForeground(this, Notifications.ID_STATUS, Notifications.status(this, status), type)
        true
    } catch (e: IllegalStateException) {
        // ForegroundServiceStartNotAllowedException (started from the background, or the daily
        // data sync time is used up).
        Log.w(TAG, "cannot run in the foreground", e)
        false
    } catch (e: SecurityException) {
        Log.w(TAG, "cannot run in the foreground", e)
        false
    }

    private fun observe() {
        val controller = app.controller
        lifecycleScope.launch {
            app.startNode()
        }
        lifecycleScope.launch {
            controller.settings.map { it.receiving }.distinctUntilChanged().collect { receiving ->
                if (!receiving) stopReceiving()
            }
        }
        lifecycleScope.launch {
            combine(controller.node, controller.settings, controller.transfers) { node, settings, transfers ->
                ServiceStatus(node, settings.alias, ServiceStatus.progressOf(transfers))
            }.distinctUntilChanged().conflate().collect { status ->
                // The same id as startForeground's: this updates the service's notification.
                if (!stopping) Notifications.postStatus(this@ReceiveService, status)
                delay(STATUS_INTERVAL_MS) // the system drops faster updates anyway
            }
        }
        lifecycleScope.launch {
            controller.requests.collect { requests ->
                val now = requests.map { it.sessionId }.toSet()
                (postedRequests - now).forEach { Notifications.cancelRequest(this@ReceiveService, it) }
                postedRequests.retainAll(now)
                requests.filter { postedRequests.add(it.sessionId) }.forEach { Notifications.postRequest(this@ReceiveService, it) }
            }
        }
        lifecycleScope.launch {
            controller.transfers.collect { transfers -> onTransfers(transfers) }
        }
        lifecycleScope.launch {
            // Wrong PINs: the main screen shows them; in the background a notification does.
            controller.pinWarning.collect { w ->
                if (w == null) Notifications.cancelPinWarning(this@ReceiveService)
                else if (!app.inForeground) Notifications.postPinWarning(this@ReceiveService, w)
            }
        }
        lifecycleScope.launch {
            controller.texts.collect { texts ->
                val now = texts.map { it.id }.toSet()
                (postedTexts - now).forEach { Notifications.cancelText(this@ReceiveService, it) }
                postedTexts.retainAll(now)
                texts.filter { postedTexts.add(it.id) }.forEach { Notifications.postText(this@ReceiveService, it) }
            }
        }
    }

    /** Tells how each transfer ended, once; those that had ended before the service started are not told. */
    private fun onTransfers(transfers: List<Transfer>) {
        val finished = transfers.filter { it.state.finished }
        val seen = finishedSeen ?: finished.mapTo(HashSet()) { it.id }.also { finishedSeen = it }
        for (t in finished) {
            if (!seen.add(t.id)) continue
            lifecycleScope.launch {
                // The history entry (with where the files went) is written right after the transfer ends.
                val entry = withTimeoutOrNull(HISTORY_WAIT_MS) {
                    app.controller.history.first { h -> h.any { it.id == t.id } }
                }?.firstOrNull { it.id == t.id }
                Notifications.postResult(this@ReceiveService, t, entry)
            }
        }
        seen.retainAll(transfers.map { it.id }.toSet())
    }

    private fun stopReceiving() {
        stopping = true
        ServiceCompat.stopForeground(this, ServiceCompat.STOP_FOREGROUND_REMOVE)
        stopSelf()
    }

    /** Android 15+: the daily time for data sync services is up. Stop now, or the app is stopped. */
    override fun onTimeout(startId: Int, fgsType: Int) {
        Log.i(TAG, "data sync time limit reached: receiving stops until Ferry is opened again")
        Notifications.postTimeout(this)
        stopReceiving()
    }

    override fun onDestroy() {
        stopping = true
        Notifications.cancelStatus(this)
        postedRequests.forEach { Notifications.cancelRequest(this, it) }
        postedRequests.clear()
        app.serviceRunning = false
        app.stopNodeIfUnused()
        super.onDestroy()
    }

    companion object {
        private const val TAG = "Ferry"
        private const val STATUS_INTERVAL_MS = 1_000L
        private const val HISTORY_WAIT_MS = 3_000L

        /** Starts receiving in the background. Only from the foreground (Android 12+ refuses otherwise). */
        fun start(context: Context) {
            try {
                ContextCompat.startForegroundService(context, Intent(context, ReceiveService::class.java))
            } catch (e: IllegalStateException) {
                Log.w(TAG, "cannot start receiving in the background", e)
            }
        }
    }
}
