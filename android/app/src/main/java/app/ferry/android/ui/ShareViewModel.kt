package app.ferry.android.ui

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import app.ferry.android.FerryApp
import app.ferry.android.Outbox
import app.ferry.android.Outgoing
import app.ferry.android.SendResult
import app.ferry.android.userMessage
import app.ferry.logic.NearbyDevice
import app.ferry.logic.Transfer
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * The share sheet: what another app shared, the device picker, then the send's progress.
 * The send itself belongs to the process's controller: it goes on when the sheet is hidden.
 */
class ShareViewModel(application: Application) : AndroidViewModel(application) {
    private val app = application as FerryApp
    private val controller = app.controller

    sealed interface Phase {
        data object Picking : Phase
        data object Starting : Phase
        data class Sending(val transferId: String) : Phase
        data class TextSent(val alias: String, val shown: Boolean) : Phase
        data class Failed(val message: String) : Phase
    }

    val devices = controller.devices
    val discovering = controller.discovering
    val node = controller.node
    val outbox = Outbox(app, viewModelScope)

    private val _outgoing = MutableStateFlow<Outgoing?>(null)
    val outgoing: StateFlow<Outgoing?> = _outgoing.asStateFlow()

    private val _phase = MutableStateFlow<Phase>(Phase.Picking)
    val phase: StateFlow<Phase> = _phase.asStateFlow()

    /** Something to know that did not stop the send (documents that could not be opened). */
    private val _notice = MutableStateFlow<String?>(null)
    val notice: StateFlow<String?> = _notice.asStateFlow()

    private val rescanner = Rescan(app, viewModelScope) { _notice.value = it }
    val refreshing: StateFlow<Boolean> = rescanner.refreshing

    /** The send started from this sheet, followed live. */
    val transfer: StateFlow<Transfer?> = combine(_phase, controller.transfers) { phase, transfers ->
        (phase as? Phase.Sending)?.let { s -> transfers.firstOrNull { it.id == s.transferId } }
    }.stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), null)

    val hasContent: Boolean get() = _outgoing.value != null

    /** What was shared; kept across configuration changes (set once). */
    fun load(outgoing: Outgoing) {
        if (_outgoing.value == null) _outgoing.value = outgoing
    }

    fun holdDiscovery(): AutoCloseable = controller.holdDiscovery()

    fun rescan() = rescanner.start()

    fun pick(device: NearbyDevice, pin: String? = null) {
        val what = _outgoing.value ?: return
        _phase.value = Phase.Starting
        _notice.value = null
        viewModelScope.launch {
            _phase.value = when (val r = outbox.send(device, what, pin) { _notice.value = it }) {
                is SendResult.Started -> Phase.Sending(r.transferId)
                is SendResult.TextSent -> Phase.TextSent(device.alias, r.shown)
                SendResult.NeedsPin -> Phase.Picking
                is SendResult.Failed -> Phase.Failed(r.message)
            }
        }
    }

    /** The PIN dialog's answer: try again with [pin], or give up (null). */
    fun answerPin(pin: String?) {
        val request = outbox.takePinRequest()
        if (request != null && pin != null) pick(request.device, pin) else _phase.value = Phase.Picking
    }

    fun cancel() {
        val sending = _phase.value as? Phase.Sending ?: return
        viewModelScope.launch(Dispatchers.IO) { controller.cancel(sending.transferId) }
    }

    /** Back to the device list (to try another device, or again). */
    fun backToDevices() {
        _phase.value = Phase.Picking
    }
}
