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
import app.ferry.android.platform.TransferLocks
import app.ferry.logic.KeepAlive
import app.ferry.logic.QuickSaveNotice
import app.ferry.logic.RequestPrompt
import app.ferry.logic.Transfer
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull

/**
 * Keeps Ferry alive while it has work, as [KeepAlive] (in :logic, tested) decides: every running
 * transfer, sent or received, as a `dataSync` foreground service with a wake lock and a Wi-Fi
 * lock while bytes move; and, while "receive in background" is on, listening for requests
 * (`specialUse` from Android 14, not data sync). It asks about incoming transfers in
 * notifications while the app is not on screen ([RequestPrompt]), shows progress and tells how
 * transfers ended. Started from the foreground only ([FerryApp.startServiceIfNeeded]).
 */
class FerryService : LifecycleService() {
    private val app: FerryApp get() = application as FerryApp
    private var observing = false
    private var stopping = false
    private var types: Int = -1
    private lateinit var locks: TransferLocks

    // Main thread only (collected on lifecycleScope).
    private val postedRequests = HashSet<String>()
    private val postedTexts = HashSet<Long>()
    private var finishedSeen: MutableSet<String>? = null

    override fun onCreate() {
        super.onCreate()
        locks = TransferLocks(this)
        app.serviceRunning = true
    }

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        super.onStartCommand(intent, flags, startId)
        val plan = app.keepAlivePlan()
        // startForegroundService() obliges the service to go foreground, even to stop at once
        // (the work may have ended in between: then with the transfer type, for that moment).
        val now = if (plan.service) plan else plan.copy(types = setOf(KeepAlive.ServiceType.DATA_SYNC))
        if (!goForeground(now) || !plan.service) {
            stop()
            return START_NOT_STICKY
        }
        stopping = false
        if (!observing) {
            observing = true
            observe()
        }
        return if (plan.listening) START_STICKY else START_NOT_STICKY
    }

    /** Runs in the foreground with the plan's types (again when they change). False when Android refuses. */
    private fun goForeground(plan: KeepAlive.Plan): Boolean {
        val wanted = serviceTypes(plan)
        if (wanted == types) return true
        return try {
            val c = app.controller
            val status = ServiceStatus(c.node.value, c.settings.value.alias, ServiceStatus.progressOf(c.transfers.value))
            ServiceCompat.startForeground(this, Notifications.ID_STATUS, Notifications.status(this, status), wanted)
            types = wanted
            true
        } catch (e: IllegalStateException) {
            // ForegroundServiceStartNotAllowedException (a type started from the background, or the
            // daily data sync time is used up): the types it runs with stay as they were.
            Log.w(TAG, "cannot run in the foreground with types $wanted", e)
            types != -1
        } catch (e: SecurityException) {
            Log.w(TAG, "cannot run in the foreground with types $wanted", e)
            types != -1
        }
    }

    private fun serviceTypes(plan: KeepAlive.Plan): Int {
        // Before Android 10 there are no types to pass (the manifest's apply).
        if (Build.VERSION.SDK_INT < Build.VERSION_CODES.Q) return 0
        var t = 0
        for (type in plan.types) {
            t = t or when (type) {
                KeepAlive.ServiceType.DATA_SYNC -> ServiceInfo.FOREGROUND_SERVICE_TYPE_DATA_SYNC
                // The plan asks for it from Android 14 only; the constant is inlined.
                KeepAlive.ServiceType.SPECIAL_USE -> ServiceInfo.FOREGROUND_SERVICE_TYPE_SPECIAL_USE
            }
        }
        return t
    }

    private fun observe() {
        val controller = app.controller
        lifecycleScope.launch {
            // The node runs while the service listens (FerryApp.nodeWanted); sends need none.
            if (app.keepAlivePlan().listening) app.startNode()
        }
        lifecycleScope.launch {
            combine(controller.settings, controller.transfers, app.onScreen, app.dataSyncExhausted) { _, _, _, _ -> app.keepAlivePlan() }
                .distinctUntilChanged()
                .collect { plan -> apply(plan) }
        }
        lifecycleScope.launch {
            // A wake lock always has a timeout: extended while a transfer runs.
            while (isActive) {
                delay(LOCK_REFRESH_MS)
                locks.apply(app.keepAlivePlan())
            }
        }
        lifecycleScope.launch {
            combine(controller.node, controller.settings, controller.transfers) { node, settings, transfers ->
                ServiceStatus(node, settings.alias, ServiceStatus.progressOf(transfers))
            }.distinctUntilChanged().conflate().collect { status ->
                // The same id as startForeground's: this updates the service's notification.
                if (!stopping) Notifications.postStatus(this@FerryService, status)
                delay(STATUS_INTERVAL_MS) // the system drops faster updates anyway
            }
        }
        lifecycleScope.launch {
            // A request shows in one place: the app's sheet while it is on screen, else a notification.
            combine(controller.requests, app.onScreen) { requests, onScreen -> requests to onScreen }.collect { (requests, onScreen) ->
                val prompt = RequestPrompt.of(onScreen, Permissions.canNotify(this@FerryService))
                val now = if (prompt == RequestPrompt.NOTIFICATION) requests.map { it.sessionId }.toSet() else emptySet()
                (postedRequests - now).forEach { Notifications.cancelRequest(this@FerryService, it) }
                postedRequests.retainAll(now)
                requests.filter { it.sessionId in now && postedRequests.add(it.sessionId) }
                    .forEach { Notifications.postRequest(this@FerryService, it) }
            }
        }
        lifecycleScope.launch {
            controller.transfers.collect { transfers -> onTransfers(transfers) }
        }
        lifecycleScope.launch {
            // Wrong PINs: the main screen shows them; in the background a notification does.
            controller.pinWarning.collect { w ->
                if (w == null) Notifications.cancelPinWarning(this@FerryService)
                else if (!app.inForeground) Notifications.postPinWarning(this@FerryService, w)
            }
        }
        lifecycleScope.launch {
            controller.texts.collect { texts ->
                val now = texts.map { it.id }.toSet()
                (postedTexts - now).forEach { Notifications.cancelText(this@FerryService, it) }
                postedTexts.retainAll(now)
                texts.filter { postedTexts.add(it.id) }.forEach { Notifications.postText(this@FerryService, it) }
            }
        }
        lifecycleScope.launch {
            controller.problems.collect { p -> p.lastOrNull()?.let { Log.e(TAG, "internal failure: ${it.what}: ${it.message}") } }
        }
    }

    private fun apply(plan: KeepAlive.Plan) {
        if (stopping) return
        if (!plan.service) {
            stop()
            return
        }
        goForeground(plan)
        locks.apply(plan)
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
                // Saved without asking (quick save): say so, and open the history.
                val quick = QuickSaveNotice.of(t, entry)
                if (quick != null) Notifications.postQuickSave(this@FerryService, quick, entry?.files?.map { it.name } ?: t.fileNames)
                else Notifications.postResult(this@FerryService, t, entry)
            }
        }
        seen.retainAll(transfers.map { it.id }.toSet())
    }

    private fun stop() {
        stopping = true
        locks.releaseAll()
        ServiceCompat.stopForeground(this, ServiceCompat.STOP_FOREGROUND_REMOVE)
        stopSelf()
    }

    /** Android 15+: the daily time for data sync is up. Stop now, or the app is stopped; opening Ferry resets it. */
    override fun onTimeout(startId: Int, fgsType: Int) {
        Log.i(TAG, "data sync time limit reached (type $fgsType): stopping until Ferry is opened again")
        app.dataSyncExhausted.value = true
        Notifications.postTimeout(this)
        stop()
    }

    override fun onDestroy() {
        stopping = true
        locks.releaseAll()
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
        private const val LOCK_REFRESH_MS = 10 * 60_000L

        /** Starts the service. Only from the foreground (Android 12+ refuses otherwise). */
        fun start(context: Context) {
            try {
                ContextCompat.startForegroundService(context, Intent(context, FerryService::class.java))
            } catch (e: IllegalStateException) {
                Log.w(TAG, "cannot start the service in the background", e)
            }
        }
    }
}
