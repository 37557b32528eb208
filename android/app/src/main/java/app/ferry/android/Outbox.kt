package app.ferry.android

import android.net.Uri
import android.util.Log
import app.ferry.android.platform.SafTree
import app.ferry.android.platform.SharedContent
import app.ferry.core.FerryException
import app.ferry.core.SendItem
import app.ferry.logic.ErrorKinds
import app.ferry.logic.FolderWalk
import app.ferry.logic.WalkLimits
import app.ferry.logic.shownName
import app.ferry.logic.NearbyDevice
import app.ferry.logic.NodeState
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** What the user sends: documents (content URIs, opened in place) or a text message. */
sealed interface Outgoing {
    data class Files(val uris: List<Uri>) : Outgoing
    data class Text(val text: String) : Outgoing
    /** A folder the user picked (a document tree URI), sent with its structure. */
    data class Folder(val tree: Uri) : Outgoing
}

/** A send the receiver wants a PIN for; [wrongPin] when the last one given was wrong. */
data class PinRequest(val device: NearbyDevice, val outgoing: Outgoing, val wrongPin: Boolean)

sealed interface SendResult {
    /** Files are on their way; follow [transferId] in the controller's transfers. */
    data class Started(val transferId: String) : SendResult
    /** A text was delivered; [shown] is false when the receiver did not show it. */
    data class TextSent(val shown: Boolean) : SendResult
    /** The receiver wants a PIN: see [Outbox.pinRequest]. */
    data object NeedsPin : SendResult
    data class Failed(val message: String) : SendResult
}

/**
 * Sending for a screen: opens documents (off the main thread), starts the node if needed,
 * sends, and turns "PIN required"/"wrong PIN" into a [PinRequest] to answer with [takePinRequest]
 * and a new [send]. Lives in a view model's [scope].
 */
class Outbox(private val app: FerryApp, private val scope: CoroutineScope) {
    private val controller get() = app.controller
    private val _pinRequest = MutableStateFlow<PinRequest?>(null)
    val pinRequest: StateFlow<PinRequest?> = _pinRequest.asStateFlow()

    /** Clears and returns the pending PIN request (to send again with a PIN, or to give up). */
    fun takePinRequest(): PinRequest? = _pinRequest.value.also { _pinRequest.value = null }

    /** Sends; [report] hears about documents that could not be opened while the rest went. */
    suspend fun send(device: NearbyDevice, outgoing: Outgoing, pin: String? = null, report: (String) -> Unit = {}): SendResult =
        withContext(Dispatchers.IO) {
            if (app.startNode() !is NodeState.Running) return@withContext SendResult.Failed(app.getString(R.string.error_not_running))
            when (outgoing) {
                is Outgoing.Files -> sendFiles(device, outgoing, pin, report)
                is Outgoing.Text -> sendText(device, outgoing, pin)
                is Outgoing.Folder -> sendFolder(device, outgoing, pin, report)
            }
        }

    private fun sendFiles(device: NearbyDevice, files: Outgoing.Files, pin: String?, report: (String) -> Unit): SendResult {
        val items = ArrayList<SendItem>()
        val failed = ArrayList<String>()
        for (uri in files.uris) {
            try {
                items += SharedContent.open(app, uri)
            } catch (e: Exception) {
                Log.w(TAG, "cannot open $uri", e)
                failed += SharedContent.fallbackName(uri)
            }
        }
        if (items.isEmpty()) return SendResult.Failed(app.getString(R.string.error_open_none))
        if (failed.isNotEmpty()) report(app.getString(R.string.error_open_some, failed.joinToString(", ")))
        // The controller owns the descriptors from here and closes them on any failure.
        val id = try {
            controller.send(device, items, pin)
        } catch (e: Exception) {
            return SendResult.Failed(app.userMessage(e))
        }
        watchForPin(id, device, files)
        return SendResult.Started(id)
    }

    /**
     * Walks the folder ([FolderWalk]: bounded, safe relative paths), opens its files in place and
     * sends them; what was left out (unreadable folders and files, bounds reached) is reported.
     */
    private fun sendFolder(device: NearbyDevice, folder: Outgoing.Folder, pin: String?, report: (String) -> Unit): SendResult {
        val tree = try {
            SafTree(app, folder.tree)
        } catch (e: RuntimeException) {
            return SendResult.Failed(app.getString(R.string.error_open_folder, e.message.orEmpty()))
        }
        val walk = FolderWalk.walk(tree, tree.rootId, tree.rootName(), FOLDER_LIMITS)
        val items = ArrayList<SendItem>()
        val failed = ArrayList<String>()
        for (f in walk.files) {
            try {
                items += tree.open(f)
            } catch (e: Exception) {
                Log.w(TAG, "cannot open ${f.relativePath}", e)
                failed += shownName(f.relativePath)
            }
        }
        val left = walk.skipped + listOfNotNull(
            walk.stoppedBecause?.let { app.getString(R.string.folder_stopped, it) },
            failed.takeIf { it.isNotEmpty() }?.let { app.getString(R.string.error_open_some, it.take(5).joinToString(", ")) },
        )
        if (left.isNotEmpty()) report(left.joinToString("\n"))
        if (items.isEmpty()) return SendResult.Failed(app.getString(R.string.error_folder_empty))
        val id = try {
            controller.send(device, items, pin)
        } catch (e: Exception) {
            return SendResult.Failed(app.userMessage(e))
        }
        watchForPin(id, device, folder)
        return SendResult.Started(id)
    }

    private suspend fun sendText(device: NearbyDevice, text: Outgoing.Text, pin: String?): SendResult = try {
        SendResult.TextSent(controller.sendText(device, text.text, pin))
    } catch (e: FerryException.PinRequired) {
        _pinRequest.value = PinRequest(device, text, wrongPin = false)
        SendResult.NeedsPin
    } catch (e: FerryException.InvalidPin) {
        _pinRequest.value = PinRequest(device, text, wrongPin = true)
        SendResult.NeedsPin
    } catch (e: CancellationException) {
        throw e
    } catch (e: Exception) {
        SendResult.Failed(app.userMessage(e))
    }

    /** A file send learns about the PIN from the receiver after it started: watch how it ends. */
    private fun watchForPin(id: String, device: NearbyDevice, files: Outgoing) {
        scope.launch {
            val t = controller.transfers.map { list -> list.firstOrNull { it.id == id } }
                .first { it == null || it.state.finished } ?: return@launch
            when (t.errorKind) {
                ErrorKinds.PIN_REQUIRED -> _pinRequest.value = PinRequest(device, files, wrongPin = false)
                ErrorKinds.INVALID_PIN -> _pinRequest.value = PinRequest(device, files, wrongPin = true)
            }
        }
    }

    companion object {
        private const val TAG = "Ferry"

        /**
         * A folder's bounds: every file is an open descriptor until the send ends (older Android
         * versions allow a process about 1024), and the walk's queries cost time.
         */
        val FOLDER_LIMITS = WalkLimits(maxDepth = 32, maxFiles = 800, maxFolders = 2_000)

        /** Whether a failed transfer failed for want of the right PIN (the PIN dialog handles it). */
        fun isPinError(errorKind: String?) = errorKind == ErrorKinds.PIN_REQUIRED || errorKind == ErrorKinds.INVALID_PIN
    }
}
