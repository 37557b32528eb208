package app.ferry.android

import android.app.Application
import android.os.Build
import android.provider.Settings as AndroidSettings
import android.util.Log
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import app.ferry.android.platform.AndroidDocumentSaver
import app.ferry.android.platform.MulticastDiscoveryLock
import app.ferry.android.platform.NetworkWatcher
import app.ferry.core.DeviceKind
import app.ferry.logic.DeviceInfo
import app.ferry.logic.FerryController
import app.ferry.logic.KeepAlive
import app.ferry.logic.NodeState
import java.io.File
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * The process's one [FerryController] and who keeps its node running.
 *
 * The node runs while an activity of the app is started (discovery, sending) or while
 * [FerryService] listens (receiving in the background is on). Sends go on after the node stops;
 * [FerryService] keeps the process alive while any transfer runs. Starting and stopping the node
 * are blocking (files, JNI): they run in order on [nodeDispatcher].
 */
class FerryApp : Application() {
    /**
     * Lives as long as the process: the controller's flows, network changes, node start/stop.
     * A failure in one of its coroutines (a panic reported by the node, say) is logged: without
     * the handler it would end the process.
     */
    val scope = CoroutineScope(
        SupervisorJob() + Dispatchers.Default + CoroutineExceptionHandler { _, e -> Log.e(TAG, "background work failed", e) },
    )

    lateinit var controller: FerryController
        private set

    @OptIn(ExperimentalCoroutinesApi::class)
    private val nodeDispatcher = Dispatchers.IO.limitedParallelism(1)
    private val startedActivities = AtomicInteger()
    private var stopJob: Job? = null

    /** Set by [FerryService] while it runs (main thread). */
    @Volatile
    var serviceRunning = false
        internal set

    private val _onScreen = MutableStateFlow(false)
    /** An activity of the app is started: requests show in its sheet, not in notifications. */
    val onScreen: StateFlow<Boolean> = _onScreen.asStateFlow()

    /** Android 15+ stopped the service's data sync for today (Service.onTimeout); opening the app resets it. */
    val dataSyncExhausted = MutableStateFlow(false)

    override fun onCreate() {
        super.onCreate()
        // The name the user gave the device (Settings > About); some builds refuse to tell it.
        val alias = runCatching { AndroidSettings.Global.getString(contentResolver, AndroidSettings.Global.DEVICE_NAME) }
            .getOrNull()?.takeIf { it.isNotBlank() } ?: Build.MODEL
        val fallbackDir = getExternalFilesDir(null)?.let { File(it, "received") } ?: File(filesDir, "received")
        controller = FerryController(
            dataDir = File(filesDir, "ferry"),
            device = DeviceInfo(alias, Build.MODEL, DeviceKind.MOBILE, fallbackDir),
            scope = scope,
            lock = MulticastDiscoveryLock(this),
            saver = AndroidDocumentSaver(this),
        )
        Notifications.createChannels(this)
        // Requests do not outlive the process: prompts left from an earlier one answer nothing.
        Notifications.cancelStaleRequests(this)

        NetworkWatcher(this) {
            // The network is back: sends waiting to reconnect try now (they run without the node too).
            controller.retryNow()
            scope.launch(nodeDispatcher) {
                // A node that could not start (no network yet) gets another chance.
                if (controller.node.value is NodeState.Running) controller.onNetworkChanged()
                else if (nodeWanted()) controller.start()
            }
        }.start()

        scope.launch(Dispatchers.Main) {
            // Receiving turned on, or a transfer started (a send from the share sheet): the service
            // starts while the app is on screen. Stopping is the service's (it watches the same flows).
            combine(controller.settings, controller.transfers) { _, _ -> keepAlivePlan().service }
                .distinctUntilChanged()
                .collect { wanted -> if (wanted) startServiceIfNeeded() }
        }
    }

    /**
     * Starts the node if it is not running (idempotent); returns its state. Never throws: what the
     * controller does not turn into [NodeState.Failed] itself (an internal error) is turned here.
     */
    suspend fun startNode(): NodeState = withContext(nodeDispatcher) {
        try {
            controller.start()
        } catch (e: Exception) {
            Log.e(TAG, "the node could not start", e)
            NodeState.Failed(e.message ?: getString(R.string.error_generic))
        }
    }

    /** Keeps the node running while [owner] is started (the app is on screen). */
    fun keepNodeWhileStarted(owner: LifecycleOwner) {
        owner.lifecycle.addObserver(object : DefaultLifecycleObserver {
            override fun onStart(owner: LifecycleOwner) {
                _onScreen.value = startedActivities.incrementAndGet() > 0
                dataSyncExhausted.value = false
                // Back in the foreground (the process may have been frozen): broken sends try again now.
                controller.retryNow()
                stopJob?.cancel()
                stopJob = null
                scope.launch { startNode() }
                startServiceIfNeeded()
            }

            override fun onStop(owner: LifecycleOwner) {
                _onScreen.value = startedActivities.decrementAndGet() > 0
                stopNodeIfUnused()
            }
        })
    }

    /** What keeps Ferry alive now ([KeepAlive], decided in :logic). */
    fun keepAlivePlan(): KeepAlive.Plan = KeepAlive.plan(
        KeepAlive.Input(
            sdk = Build.VERSION.SDK_INT,
            receiveInBackground = controller.settings.value.receiving,
            canListen = Permissions.canReceive(this),
            transfers = controller.transfers.value,
            dataSyncExhausted = dataSyncExhausted.value,
        ),
    )

    /**
     * Starts [FerryService] when the plan wants it (receiving is on, or a transfer runs) and the
     * app is in the foreground (a foreground service cannot be started from the background).
     */
    fun startServiceIfNeeded() {
        if (serviceRunning || startedActivities.get() == 0) return
        if (keepAlivePlan().service) FerryService.start(this)
    }

    private fun nodeWanted() = startedActivities.get() > 0 || serviceRunning && keepAlivePlan().listening

    /** An activity of the app is started (on screen): what it shows need not be notified. */
    val inForeground: Boolean get() = startedActivities.get() > 0

    /** Stops the node a little after nothing needs it (an activity may be about to start again). */
    fun stopNodeIfUnused() {
        stopJob?.cancel()
        stopJob = scope.launch(Dispatchers.Main) {
            delay(IDLE_STOP_DELAY_MS)
            withContext(nodeDispatcher) {
                if (!nodeWanted()) {
                    Log.i(TAG, "nothing uses the node: stopping it")
                    controller.stop()
                }
            }
        }
    }

    companion object {
        private const val TAG = "Ferry"
        private const val IDLE_STOP_DELAY_MS = 10_000L
    }
}
