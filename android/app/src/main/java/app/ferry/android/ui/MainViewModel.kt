package app.ferry.android.ui

import android.app.Application
import android.content.Context
import android.content.Intent
import android.net.Uri
import androidx.core.content.edit
import androidx.documentfile.provider.DocumentFile
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import app.ferry.android.FerryApp
import app.ferry.android.Outbox
import app.ferry.android.Outgoing
import app.ferry.android.R
import app.ferry.android.SendResult
import app.ferry.android.userMessage
import app.ferry.android.platform.SharedContent
import app.ferry.core.SendItem
import app.ferry.logic.Destination
import app.ferry.logic.NodeState
import app.ferry.logic.NearbyDevice
import app.ferry.logic.PairingModel
import app.ferry.logic.PendingRequest
import app.ferry.logic.Settings
import app.ferry.logic.shownName
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.receiveAsFlow
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

enum class Tab { NEARBY, HISTORY, SETTINGS }

/**
 * The main screen's state (the controller's flows) and actions. Whatever reaches the node or
 * writes files runs on [Dispatchers.IO]; failures become [messages] for a snackbar.
 */
class MainViewModel(application: Application) : AndroidViewModel(application) {
    private val app = application as FerryApp
    private val controller = app.controller

    val settings = controller.settings
    val node = controller.node
    val devices = controller.devices
    val discovering = controller.discovering
    val transfers = controller.transfers
    val history = controller.history
    val texts = controller.texts
    val trusted = controller.trusted
    /** Wrong PINs sent to this device, until dismissed. */
    val pinWarning = controller.pinWarning

    val outbox = Outbox(app, viewModelScope)

    val linkShare = controller.linkShare
    val receivePage = controller.receivePage
    private val _linkSheet = MutableStateFlow(false)
    /** The "Share via link" sheet is open. */
    val linkSheet: StateFlow<Boolean> = _linkSheet.asStateFlow()

    fun openLinkSheet() {
        _linkSheet.value = true
    }

    fun closeLinkSheet() {
        _linkSheet.value = false
    }

    /** Shares documents by link (opened in place; those that cannot be opened are named in a message). */
    fun shareByLink(uris: List<Uri>) = io {
        if (uris.isEmpty()) return@io
        if (app.startNode() !is NodeState.Running) {
            report(app.getString(R.string.error_not_running))
            return@io
        }
        val items = ArrayList<SendItem>()
        val failed = ArrayList<String>()
        for (uri in uris) {
            try {
                items += SharedContent.open(app, uri)
            } catch (e: Exception) {
                failed += SharedContent.fallbackName(uri)
            }
        }
        if (failed.isNotEmpty()) report(app.getString(R.string.error_open_some_shared, failed.joinToString(", ") { shownName(it) }))
        if (items.isEmpty()) return@io
        // The controller owns the descriptors from here and closes them on any failure.
        controller.startShare(items)
    }

    fun answerBrowser(id: String, approve: Boolean) = io { controller.answerBrowser(id, approve) }

    fun stopShare() = io { controller.stopShare() }

    fun setReceivePage(on: Boolean) = io {
        if (on && app.startNode() !is NodeState.Running) {
            report(app.getString(R.string.error_not_running))
            return@io
        }
        controller.setReceivePage(on)
    }

    /** The links browsers open (the receive page's), one per address. */
    fun links(): List<String> = controller.links()

    /** The "Pair with QR" screen (its logic in :logic; pairing writes settings: off the main thread). */
    val pairing = PairingModel(CoroutineScope(viewModelScope.coroutineContext + Dispatchers.IO), controller::pairingCode, controller::pair)

    private val _tab = MutableStateFlow(Tab.NEARBY)
    val tab: StateFlow<Tab> = _tab.asStateFlow()

    private val rescanner = Rescan(app, viewModelScope) { report(it) }
    val refreshing: StateFlow<Boolean> = rescanner.refreshing

    /**
     * Requests the user put aside (swiped the sheet away): answerable from [putAside], or from the
     * notification once Ferry is in the background.
     */
    private val hiddenRequests = MutableStateFlow<Set<String>>(emptySet())
    private val focusedRequest = MutableStateFlow<String?>(null)

    /** The request to show in the sheet: the one a notification opened, else the oldest not put aside. */
    val shownRequest: StateFlow<PendingRequest?> = combine(controller.requests, hiddenRequests, focusedRequest) { requests, hidden, focus ->
        requests.firstOrNull { it.sessionId == focus } ?: requests.firstOrNull { it.sessionId !in hidden }
    }.stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), null)

    /**
     * Requests put aside while the app is on screen: no notification stands for them then (a
     * request shows in one place, RequestPrompt), so the nearby list offers them again.
     */
    val putAside: StateFlow<List<PendingRequest>> = combine(controller.requests, hiddenRequests, shownRequest) { requests, hidden, shown ->
        requests.filter { it.sessionId in hidden && it.sessionId != shown?.sessionId }
    }.stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), emptyList())

    private val _messages = Channel<String>(Channel.BUFFERED)
    /** One-off messages for people (errors, confirmations). */
    val messages: Flow<String> = _messages.receiveAsFlow()

    fun report(message: String) {
        _messages.trySend(message)
    }

    /** Runs [block] on the IO dispatcher; any failure becomes a message. */
    private fun io(block: suspend () -> Unit) {
        viewModelScope.launch {
            try {
                withContext(Dispatchers.IO) { block() }
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                report(app.userMessage(e))
            }
        }
    }

    fun selectTab(tab: Tab) {
        _tab.value = tab
    }

    // ---- nearby ------------------------------------------------------------------------------

    /** Holds discovery while the nearby list is on screen; close it when it leaves. */
    fun holdDiscovery(): AutoCloseable = controller.holdDiscovery()

    fun rescan() = rescanner.start()

    /** Looks for a device at `host[:port]`; [onFound] runs when it answered. */
    fun addByAddress(address: String, favorite: Boolean, onFound: () -> Unit) {
        viewModelScope.launch {
            try {
                val d = withContext(Dispatchers.IO) {
                    app.startNode()
                    controller.addByAddress(address, favorite)
                }
                report(app.getString(R.string.device_added, d.alias))
                onFound()
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                report(app.userMessage(e))
            }
        }
    }

    fun setFavorite(device: NearbyDevice, favorite: Boolean) = io { controller.setFavorite(device.fingerprint, favorite) }

    fun setReceiving(on: Boolean) = io { controller.updateSettings { it.copy(receiving = on) } }

    // ---- sending -----------------------------------------------------------------------------

    fun send(device: NearbyDevice, outgoing: Outgoing, pin: String? = null) {
        viewModelScope.launch {
            when (val r = outbox.send(device, outgoing, pin, ::report)) {
                is SendResult.TextSent -> report(app.getString(if (r.shown) R.string.text_sent else R.string.text_not_shown, shownName(device.alias)))
                is SendResult.Failed -> report(shownName(r.message))
                is SendResult.Started, SendResult.NeedsPin -> {}
            }
        }
    }

    /** The PIN dialog's answer: send again with [pin], or give up (null). */
    fun answerPin(pin: String?) {
        val request = outbox.takePinRequest() ?: return
        if (pin != null) send(request.device, request.outgoing, pin)
    }

    fun cancel(transferId: String) = io { controller.cancel(transferId) }

    fun dismissFinished() = controller.dismissFinished()

    // ---- requests and texts ------------------------------------------------------------------

    fun accept(request: PendingRequest, fileIds: Set<String>?, trustSender: Boolean) =
        io { controller.accept(request.sessionId, fileIds, trustSender) }

    fun decline(request: PendingRequest) = io { controller.decline(request.sessionId) }

    fun hideRequest(sessionId: String) {
        hiddenRequests.update { it + sessionId }
        if (focusedRequest.value == sessionId) focusedRequest.value = null
    }

    /** A notification asked for this request: show it even if it was put aside. */
    fun showRequest(sessionId: String) {
        hiddenRequests.update { it - sessionId }
        focusedRequest.value = sessionId
        _tab.value = Tab.NEARBY
    }

    fun dismissText(id: Long) = controller.dismissText(id)

    fun dismissPinWarning() = controller.dismissPinWarning()

    // ---- settings ----------------------------------------------------------------------------

    /** Saves a change; [onSaved] runs when it was valid (else the reason is a message). */
    fun updateSettings(onSaved: () -> Unit = {}, change: (Settings) -> Settings) {
        viewModelScope.launch {
            try {
                withContext(Dispatchers.IO) { controller.updateSettings(change) }
                onSaved()
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                report(app.userMessage(e))
            }
        }
    }

    /** The user picked a folder to receive into: keep access to it across restarts. */
    fun useFolder(uri: Uri) = io {
        val flags = Intent.FLAG_GRANT_READ_URI_PERMISSION or Intent.FLAG_GRANT_WRITE_URI_PERMISSION
        app.contentResolver.takePersistableUriPermission(uri, flags)
        val label = DocumentFile.fromTreeUri(app, uri)?.name ?: uri.lastPathSegment ?: uri.toString()
        val old = controller.settings.value.destination
        controller.updateSettings { it.copy(destination = Destination.Folder(uri.toString(), label)) }
        releaseFolder(old, keep = uri)
    }

    fun useDownloads() = io {
        val old = controller.settings.value.destination
        controller.updateSettings { it.copy(destination = Destination.Downloads) }
        releaseFolder(old, keep = null)
    }

    private fun releaseFolder(old: Destination, keep: Uri?) {
        if (old !is Destination.Folder) return
        val uri = Uri.parse(old.uri)
        if (uri == keep) return
        runCatching {
            app.contentResolver.releasePersistableUriPermission(uri, Intent.FLAG_GRANT_READ_URI_PERMISSION or Intent.FLAG_GRANT_WRITE_URI_PERMISSION)
        }
    }

    fun untrust(fingerprint: String) = io { controller.untrust(fingerprint) }

    // ---- history -----------------------------------------------------------------------------

    fun removeHistory(id: String) = io { controller.removeHistory(id) }

    fun clearHistory() = io { controller.clearHistory() }

    /**
     * After permissions changed: receiving may start now, and a node that could not start
     * without the local network permission gets another try (idempotent when it runs).
     */
    fun onPermissionsChanged() {
        app.startServiceIfNeeded()
        viewModelScope.launch { app.startNode() }
    }

    /** The first launch asks for the permissions receiving needs, once; later ones do not nag. */
    fun takeFirstRun(): Boolean {
        val prefs = app.getSharedPreferences(PREFS, Context.MODE_PRIVATE)
        if (prefs.getBoolean(KEY_ASKED, false)) return false
        prefs.edit { putBoolean(KEY_ASKED, true) }
        return controller.settings.value.receiving
    }

    private companion object {
        const val PREFS = "ui"
        const val KEY_ASKED = "permissions_asked"
    }
}
