package app.ferry.logic

import app.ferry.core.BrowserRequest
import app.ferry.core.Decision
import app.ferry.core.Device
import app.ferry.core.FerryException
import app.ferry.core.FerryNode
import app.ferry.core.FileDestination
import app.ferry.core.FileSink
import app.ferry.core.IncomingRequest
import app.ferry.core.NodeConfig
import app.ferry.core.NodeListener
import app.ferry.core.OfferedFile
import app.ferry.core.ReceiveUpdate
import app.ferry.core.SendItem
import app.ferry.core.SendTarget
import app.ferry.core.SendUpdate
import app.ferry.core.ShareListener
import app.ferry.core.ShareUpdate
import app.ferry.core.Sender
import app.ferry.core.TransferHandle
import app.ferry.core.TransferListener
import app.ferry.core.TransferOutcome
import app.ferry.core.errorKindCode
import app.ferry.core.releaseSendItems
import java.io.File
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import kotlinx.coroutines.runBlocking

/**
 * Ferry for an app: one node, its state as flows, and what the user can do. Pure Kotlin (no
 * Android); the app supplies the platform parts ([DiscoveryLock], [DocumentSaver]).
 *
 * Thread-safe: the node calls in from its own threads; flows may be collected anywhere.
 *
 * Every call the node makes into it (the listeners, the file sink) catches whatever is thrown,
 * errors included (a NoSuchMethodError of an API the Android version lacks, say): the failure
 * is kept in [problems], and a transfer whose end was being handled still ends.
 *
 * @param dataDir settings, history and the node's identity and trusted devices live here.
 * @param historyStore where finished transfers are recorded (by default `history.tsv` in [dataDir]).
 */
class FerryController(
    private val dataDir: File,
    private val device: DeviceInfo,
    private val scope: CoroutineScope,
    private val lock: DiscoveryLock = DiscoveryLock.None,
    private val saver: DocumentSaver? = null,
    private val network: NetworkOptions = NetworkOptions(),
    private val clock: () -> Long = System::currentTimeMillis,
    private val historyStore: HistoryStore = HistoryStore(File(dataDir, "history.tsv")),
) : AutoCloseable {
    private val settingsStore = SettingsStore(File(dataDir, "settings.properties")) {
        Settings(alias = device.defaultAlias.take(Settings.MAX_ALIAS).ifBlank { "Ferry" }, deviceKind = device.kind)
    }

    private val _settings = MutableStateFlow(settingsStore.load())
    private val _node = MutableStateFlow<NodeState>(NodeState.Stopped)
    private val found = MutableStateFlow<Map<String, Device>>(emptyMap())
    private val _discovering = MutableStateFlow(false)
    private val _requests = MutableStateFlow<List<PendingRequest>>(emptyList())
    private val _transfers = MutableStateFlow<List<Transfer>>(emptyList())
    private val _history = MutableStateFlow(historyStore.all())
    private val _texts = MutableStateFlow<List<ReceivedText>>(emptyList())
    private val _trusted = MutableStateFlow<List<TrustedEntry>>(emptyList())
    private val _pinWarning = MutableStateFlow<PinWarning?>(null)
    private val _problems = MutableStateFlow<List<Problem>>(emptyList())
    private val _linkShare = MutableStateFlow<LinkShareState?>(null)
    private val _receivePage = MutableStateFlow(false)
    private val shareGeneration = AtomicInteger()

    val settings: StateFlow<Settings> = _settings.asStateFlow()
    val node: StateFlow<NodeState> = _node.asStateFlow()
    /** Found devices and favorites: favorites first, then by name. */
    val devices: StateFlow<List<NearbyDevice>> = combine(found, _settings) { f, s -> merge(f, s) }
        .stateIn(scope, SharingStarted.Eagerly, emptyList())
    /** True while the discovery lock is held (a scan runs or the nearby list is shown). */
    val discovering: StateFlow<Boolean> = _discovering.asStateFlow()
    /** Incoming transfers waiting for an answer, oldest first. */
    val requests: StateFlow<List<PendingRequest>> = _requests.asStateFlow()
    /** Running transfers and finished ones until dismissed, newest first. */
    val transfers: StateFlow<List<Transfer>> = _transfers.asStateFlow()
    /** Finished transfers and texts, newest first, kept across runs. */
    val history: StateFlow<List<HistoryEntry>> = _history.asStateFlow()
    /** Text messages not dismissed yet, newest first. */
    val texts: StateFlow<List<ReceivedText>> = _texts.asStateFlow()
    val trusted: StateFlow<List<TrustedEntry>> = _trusted.asStateFlow()
    /** Wrong PINs sent to this device: the latest count, until [dismissPinWarning]. */
    val pinWarning: StateFlow<PinWarning?> = _pinWarning.asStateFlow()
    /** Internal failures caught in calls from the node (newest last, at most [MAX_PROBLEMS]): for logs and bug reports. */
    val problems: StateFlow<List<Problem>> = _problems.asStateFlow()
    /** The open share via link, or null. It closes when the node stops (or restarts after a settings change). */
    val linkShare: StateFlow<LinkShareState?> = _linkShare.asStateFlow()
    /** Browsers may upload through the receive page (each upload asked about as a request from "Browser"). */
    val receivePage: StateFlow<Boolean> = _receivePage.asStateFlow()

    private val nodeLock = Any()
    @Volatile private var ferry: FerryNode? = null
    private var restartWhenIdle = false
    private val sends = ConcurrentHashMap<String, TransferHandle>()
    private val sendIds = AtomicInteger()
    private val textIds = AtomicLong()
    /** Requests the user declined (to tell a decline from a withdrawal). */
    private val declined = ConcurrentHashMap.newKeySet<String>()
    /** Per receive session: offered files, and where each went. */
    private val sessions = ConcurrentHashMap<String, ReceiveSession>()
    private val openDocs = ConcurrentHashMap<Pair<String, String>, SavedDocument>()
    /**
     * Where each received file went, by (session, file id): kept apart from [sessions], since the
     * node may open a file before the listener hears that its session started. Dropped when the
     * session ends.
     */
    private val locations = ConcurrentHashMap<Pair<String, String>, String>()
    /** The speed of each running transfer, by transfer id. */
    private val meters = ConcurrentHashMap<String, RateMeter>()
    private var speedTicker: Job? = null
    /** Files a receive skipped (the folder has them), told before its session started; bounded. */
    private val skippedEarly = ConcurrentHashMap<String, Int>()

    private var discoveryHolders = 0
    private var rescanJob: Job? = null

    private class ReceiveSession(val sender: Sender, val files: List<OfferedFile>) {
        val received = ConcurrentHashMap<String, Long>()
        val saved = ConcurrentHashMap.newKeySet<String>()
    }

    // ---- the node ----------------------------------------------------------------------

    /** Starts the node (receiving, discovery) with the current settings. Idempotent. */
    fun start(): NodeState = synchronized(nodeLock) {
        if (ferry != null) return _node.value
        val s = _settings.value
        val receiveDir = (s.destination as? Destination.Directory)?.let { File(it.path) } ?: device.fallbackReceiveDir
        val config = NodeConfig(
            alias = s.alias,
            deviceKind = s.deviceKind,
            deviceModel = device.model,
            port = s.port.toUShort(),
            configDir = File(dataDir, "node").path,
            receiveDir = receiveDir.path,
            pin = s.pin,
            encryption = s.encryption,
            discovery = network.discovery,
            interfacesInclude = network.interfacesInclude,
            interfacesExclude = network.interfacesExclude,
            // Receiving off: every request is asked about, and declined (see Listener.onRequest),
            // whatever quick save says.
            receiveMode = s.receiveMode,
            bindAddress = network.bindAddress,
            skipExisting = s.skipExisting,
        )
        val state = try {
            // FerryNode.start is a suspend function; this runs on the app's node thread
            // (FerryApp.startNode), never the main thread, so waiting here blocks no UI.
            val n = runBlocking { FerryNode.start(config, Listener()) }
            n.setFileSink(Sink())
            ferry = n
            NodeState.Running(n.fingerprint(), n.port().toInt())
        } catch (e: FerryException) {
            NodeState.Failed(e.message ?: "Ferry could not start")
        }
        _node.value = state
        refreshTrusted()
        if (state is NodeState.Running) probeFavorites()
        state
    }

    /** Stops receiving and discovery; running sends go on until they end. */
    fun stop() {
        synchronized(nodeLock) {
            val n = ferry ?: return
            ferry = null
            n.stop()
            n.destroy()
            found.value = emptyMap()
            _requests.value = emptyList()
            // The node's share and receive page end with it.
            _linkShare.value = null
            _receivePage.value = false
            _node.value = NodeState.Stopped
        }
    }

    override fun close() {
        sends.values.forEach { it.cancel() }
        stop()
    }

    private fun restart() {
        synchronized(nodeLock) {
            if (ferry == null) return
            stop()
            start()
        }
    }

    private fun requireNode(): FerryNode = ferry ?: throw IllegalStateException("Ferry is not running")

    /**
     * The network changed (Wi-Fi joined or left): sends waiting to reconnect try at once
     * ([retryNow]); the node listens and announces afresh when idle, else rescans.
     */
    fun onNetworkChanged() {
        retryNow()
        if (ferry == null) {
            // A node that could not start (no network yet) gets another try.
            if (_node.value is NodeState.Failed) start()
            return
        }
        if (isReceiving()) scope.launch { runCatching { rescan() } } else restart()
    }

    private fun isReceiving() = _transfers.value.any { it.direction == Direction.RECEIVE && !it.state.finished } || _requests.value.isNotEmpty()

    // ---- settings ----------------------------------------------------------------------

    /** Changes settings (validated, saved); restarts the node when it must. */
    fun updateSettings(change: (Settings) -> Settings): Settings {
        val (old, new) = synchronized(nodeLock) {
            val old = _settings.value
            val new = change(old).validate()
            settingsStore.save(new)
            _settings.value = new
            old to new
        }
        if (old.receiving && !new.receiving) {
            // Off means off: requests waiting for an answer are declined now.
            _requests.value.forEach { r -> runCatching { decline(r.sessionId) } }
        }
        if (old.needsRestart(new)) {
            if (isReceiving()) synchronized(nodeLock) { restartWhenIdle = true } else restart()
        }
        return new
    }

    // ---- nearby devices ----------------------------------------------------------------

    private fun merge(found: Map<String, Device>, settings: Settings): List<NearbyDevice> {
        val favorites = settings.favorites
        val fav = favorites.associateBy { it.fingerprint }
        val online = found.values.map { d ->
            NearbyDevice(d.fingerprint, d.alias, d.deviceKind, d.deviceModel, d.addresses.firstOrNull()?.let { hostPort(it, d.port.toInt()) },
                d.verified, d.encryption, d.fingerprint in fav, online = true)
        }
        val offline = favorites.filter { it.fingerprint !in found }.map { f ->
            NearbyDevice(f.fingerprint, f.alias, f.kind, null, f.address, verified = false,
                encryption = settings.encryption, favorite = true, online = false)
        }
        return (online + offline).sortedWith(compareByDescending<NearbyDevice> { it.favorite }.thenBy { it.alias.lowercase() })
    }

    /**
     * Holds the discovery lock and rescans now and every [NetworkOptions.rescanEveryMs] until
     * closed (the nearby list or the share picker is on screen).
     */
    fun holdDiscovery(): AutoCloseable {
        acquireDiscovery()
        synchronized(this) {
            if (rescanJob == null) rescanJob = scope.launch {
                while (isActive) {
                    runCatching { scanOnce() }
                    delay(network.rescanEveryMs)
                }
            }
        }
        val closed = java.util.concurrent.atomic.AtomicBoolean()
        return AutoCloseable { if (closed.compareAndSet(false, true)) releaseDiscovery() }
    }

    /** Announces and scans once ("pull to refresh"); the lock is held for it. Returns how many answered. */
    suspend fun rescan(): Int {
        acquireDiscovery()
        try {
            return scanOnce()
        } finally {
            scope.launch {
                delay(network.scanLingerMs)
                releaseDiscovery()
            }
        }
    }

    private suspend fun scanOnce(): Int {
        val n = requireNode()
        val answered = n.scan().toInt()
        refreshFound()
        return answered
    }

    private fun acquireDiscovery() {
        synchronized(this) {
            if (discoveryHolders++ == 0) {
                lock.acquire()
                _discovering.value = true
            }
        }
    }

    private fun releaseDiscovery() {
        synchronized(this) {
            if (--discoveryHolders == 0) {
                rescanJob?.cancel()
                rescanJob = null
                lock.release()
                _discovering.value = false
            }
        }
    }

    private fun refreshFound() {
        val n = ferry ?: return
        found.value = n.devices().associateBy { it.fingerprint }
    }

    /** Looks for a device at `host[:port]` and lists it. Throws [FerryException] when nothing answers. */
    suspend fun addByAddress(address: String, favorite: Boolean = false): NearbyDevice {
        val d = requireNode().addAddress(address.trim())
        found.update { it + (d.fingerprint to d) }
        if (favorite) setFavorite(d.fingerprint, true)
        return merge(mapOf(d.fingerprint to d), _settings.value).first { it.fingerprint == d.fingerprint }
    }

    /** This device's pairing code (`ferry://pair?v=1&fp=...&ip=...`), to show as a QR code. Throws when the node is not running. */
    fun pairingCode(): String = requireNode().pairingCode()

    /**
     * Pairs with the device a pairing code describes (scanned, opened as a link or pasted:
     * hostile input, checked by the core): its addresses are probed over HTTPS pinned to the
     * code's fingerprint, and only a device that proves it is trusted, listed and kept as a
     * favorite. Never throws: the result says what happened ([PairResult.message]).
     */
    suspend fun pair(code: String): PairResult {
        val d = try {
            requireNode().pair(code.trim())
        } catch (e: Exception) {
            return PairResult.of(e)
        }
        found.update { it + (d.fingerprint to d) }
        refreshTrusted()
        runCatching { setFavorite(d.fingerprint, true) }
        return PairResult.Paired(shownName(d.alias), d.fingerprint)
    }

    /** Keeps a device in the list (and reaches it at its last address when discovery does not). */
    fun setFavorite(fingerprint: String, favorite: Boolean) {
        updateSettings { s ->
            val rest = s.favorites.filter { it.fingerprint != fingerprint }
            if (!favorite) return@updateSettings s.copy(favorites = rest)
            val d = found.value[fingerprint]
            val old = s.favorites.firstOrNull { it.fingerprint == fingerprint }
            val fav = Favorite(fingerprint, d?.alias ?: old?.alias ?: fingerprint.take(8),
                d?.addresses?.firstOrNull()?.let { hostPort(it, d.port.toInt()) } ?: old?.address,
                d?.deviceKind ?: old?.kind ?: app.ferry.core.DeviceKind.MOBILE)
            // A trusted favorite's address is kept by the node too, which probes it (pinned) when it starts.
            fav.address?.let { a -> ferry?.let { n -> runCatching { n.setAddress(fingerprint, a) } } }
            s.copy(favorites = rest + fav)
        }
    }

    /** Favorites not found by discovery are asked directly, pinned to their fingerprint (in the background). */
    private fun probeFavorites() {
        val favs = _settings.value.favorites.filter { it.address != null }
        if (favs.isEmpty()) return
        scope.launch {
            for (f in favs) {
                if (f.fingerprint in found.value) continue
                val n = ferry ?: return@launch
                // Pinned: only the device with the favorite's fingerprint is listed.
                val d = withTimeoutOrNull(5_000) { runCatching { n.probeFavorite(f.fingerprint, f.address!!) }.getOrNull() } ?: continue
                found.update { it + (d.fingerprint to d) }
            }
        }
    }

    // ---- sending -----------------------------------------------------------------------

    private fun targetOf(d: NearbyDevice): SendTarget =
        if (d.fingerprint in found.value) SendTarget.Device(d.fingerprint)
        else SendTarget.Address(d.address ?: throw IllegalArgumentException("${d.alias} cannot be reached: no address"), d.encryption,
            if (d.encryption) d.fingerprint else null)

    /**
     * Sends files (paths, or descriptors from the content resolver, which Ferry takes over and
     * closes, whatever happens) to [to]. Returns the transfer's id; its progress is in
     * [transfers]. Throws [FerryException] for bad input, IllegalStateException when the node is
     * not running, before anything starts.
     */
    fun send(to: NearbyDevice, items: List<SendItem>, pin: String? = null): String {
        val (n, target) = try {
            requireNode() to targetOf(to)
        } catch (e: Exception) {
            releaseSendItems(items)
            throw e
        }
        val started = clock()
        val id = "send-$started-${sendIds.incrementAndGet()}"
        val names = items.map { item -> when (item) { is SendItem.Path -> File(item.path).name; is SendItem.Fd -> item.name } }
        val t = Transfer(id, Direction.SEND, to.alias, to.fingerprint, names, 0, 0, 0, 0, TransferState.WAITING, startedAtMs = started)
        _transfers.update { listOf(t) + it }
        val handle = try {
            n.sendFiles(target, items, pin, SendProgress(id))
        } catch (e: Exception) {
            _transfers.update { list -> list.filter { it.id != id } }
            meters.remove(id)
            throw e
        }
        // The final update may already have come (and removed nothing): keep the handle only while running.
        sends[id] = handle
        if (handle.isFinished()) sends.remove(id)
        return id
    }

    /**
     * Sends whose connection broke and that wait to reconnect ([Transfer.retrying]) try again at
     * once instead of waiting out their back-off: the network came back, or the app came to the
     * foreground. Each continues where the receiver holds (shown as [Transfer.resumedAtBytes]).
     * Returns how many were asked.
     */
    fun retryNow(): Int {
        var asked = 0
        for (t in _transfers.value) {
            if (t.direction != Direction.SEND || !t.retrying || t.state.finished) continue
            val h = sends[t.id] ?: continue
            runCatching { h.retryNow() }.onSuccess { asked++ }
        }
        return asked
    }

    /** Sends a text message. True when the receiver showed it. */
    suspend fun sendText(to: NearbyDevice, text: String, pin: String? = null): Boolean {
        val shown = requireNode().sendText(targetOf(to), text, pin)
        record(HistoryEntry("text-${clock()}-${textIds.incrementAndGet()}", Direction.SEND, to.alias, to.fingerprint, emptyList(),
            text.toByteArray().size.toLong(), if (shown) HistoryOutcome.DONE else HistoryOutcome.DECLINED, null, clock(), text))
        return shown
    }

    /** Cancels a transfer, sent or received. */
    fun cancel(transferId: String) {
        sends[transferId]?.let { it.cancel(); return }
        if (transferId.startsWith(RECEIVE) && _transfers.value.any { it.id == transferId && !it.state.finished }) ferry?.cancelReceive()
    }

    /** Removes one finished transfer from [transfers]. */
    fun dismiss(transferId: String) {
        _transfers.update { list -> list.filter { it.id != transferId || !it.state.finished } }
    }

    /** Removes finished transfers from [transfers]. */
    fun dismissFinished() {
        _transfers.update { list -> list.filter { !it.state.finished } }
    }

    private inner class SendProgress(private val id: String) : TransferListener {
        private val meter = RateMeter().also { meters[id] = it }
        /** A file resumed: the next total jumps by bytes that did not move now. */
        @Volatile private var rebaseNext = false
        /** Files counted by [SendUpdate.FilesSkipped]. */
        @Volatile private var skipped = 0

        override fun onUpdate(update: SendUpdate) {
            val terminal = update is SendUpdate.Finished || update is SendUpdate.Failed
            guard("send update ${update::class.simpleName}", onFailure = { e -> if (terminal) { sends.remove(id); forceEnd(id, e) } }) {
                handle(update)
            }
        }

        private fun handle(update: SendUpdate) {
            when (update) {
                is SendUpdate.Connected -> change { it.copy(peerAlias = update.alias, peerFingerprint = update.fingerprint) }
                is SendUpdate.Waiting -> change { it.copy(state = TransferState.WAITING) }
                is SendUpdate.Accepted -> change { it.copy(state = TransferState.RUNNING, bytesTotal = update.totalSize.toLong()) }
                is SendUpdate.Progress -> {
                    val total = update.totalSent.toLong()
                    synchronized(meter) { if (rebaseNext) meter.rebase(total) else meter.add(clock(), total) }
                    rebaseNext = false
                    change {
                        // Bytes move again after a break: its message (the break's) goes with it.
                        measured(it.copy(state = TransferState.RUNNING, bytesDone = total, bytesTotal = update.totalSize.toLong(), retrying = false,
                            message = if (it.retrying) null else it.message))
                    }
                    tickSpeeds()
                }
                is SendUpdate.FileSent -> change { it.copy(filesDone = it.filesDone + 1, retrying = false) }
                is SendUpdate.FileFailed ->
                    if (update.willRetry) change { it.copy(retrying = true, message = update.message) }
                    else change { it.copy(filesFailed = it.filesFailed + 1, retrying = false) }
                is SendUpdate.Notice -> {}
                // The file continues where the receiver holds: its kept bytes come with the next Progress.
                is SendUpdate.FileResumed -> {
                    rebaseNext = true
                    change { it.copy(resumedAtBytes = update.offset.toLong(), retrying = false, message = null) }
                }
                is SendUpdate.FilesSkipped -> {
                    skipped += update.fileIds.size
                    change { it.copy(filesSkipped = skipped) }
                }
                // Nothing to send (204): every file was skipped, the receiver had them all (a
                // person cannot accept none of a request's files: that is a decline, a 403).
                is SendUpdate.Finished -> finish { t ->
                    val skippedAll = if (update.sent == 0u && skipped == 0) update.skipped.toInt() else skipped
                    t.copy(state = TransferState.DONE, filesDone = update.sent.toInt(), bytesDone = update.bytes.toLong(),
                        filesSkipped = skippedAll, retrying = false, message = t.message.takeIf { !t.retrying })
                }
                is SendUpdate.Failed -> finish { t ->
                    val kind = errorKindCode(update.kind)
                    val state = when (kind) {
                        ErrorKinds.CANCELLED -> TransferState.CANCELLED
                        ErrorKinds.DECLINED -> TransferState.DECLINED
                        else -> TransferState.FAILED
                    }
                    t.copy(state = state, message = update.error, errorKind = kind, retrying = false)
                }
            }
        }

        /** Changes the transfer while it runs: an update that comes late (parallel uploads) never undoes the end. */
        private fun change(f: (Transfer) -> Transfer) =
            _transfers.update { list -> list.map { if (it.id == id && !it.state.finished) f(it) else it } }

        /**
         * The end: the transfer ends first (whatever happens next, it is not left running), then
         * it is recorded in the history ([record] never throws).
         */
        private fun finish(f: (Transfer) -> Transfer) {
            sends.remove(id)
            meters.remove(id)
            val t = _transfers.value.firstOrNull { it.id == id }?.takeIf { !it.state.finished }?.let(f) ?: return
            change { t }
            val outcome = when (t.state) {
                TransferState.DONE -> if (t.filesFailed > 0 || t.filesDone < t.fileNames.size) HistoryOutcome.PARTIAL else HistoryOutcome.DONE
                TransferState.CANCELLED -> HistoryOutcome.CANCELLED
                TransferState.DECLINED -> HistoryOutcome.DECLINED
                else -> HistoryOutcome.FAILED
            }
            record(HistoryEntry(id, Direction.SEND, t.peerAlias, t.peerFingerprint,
                t.fileNames.map { HistoryFile(it, 0, null) }, t.bytesDone, outcome, t.message, clock()))
        }
    }

    // ---- share and receive via link -------------------------------------------------------

    /**
     * Opens a share of [items] (files, folders, descriptors, which Ferry takes over and closes) for
     * browsers and LocalSend apps on the network, closing any open one; its state is in
     * [linkShare]. Each new browser waits for [answerBrowser] unless [approveAll]. Throws
     * [FerryException] for bad input, IllegalStateException when the node is not running.
     */
    fun startShare(items: List<SendItem>, pin: String? = null, approveAll: Boolean = false): LinkShareState {
        val n = try {
            requireNode()
        } catch (e: Exception) {
            releaseSendItems(items)
            throw e
        }
        _linkShare.value = null
        val info = n.startShare(items, pin, approveAll, ShareEvents(shareGeneration.incrementAndGet()))
        val state = LinkShareState.of(info)
        _linkShare.value = state
        return state
    }

    /** Lets a browser that asked ([BrowserAsk.id]) see the share, or not. A request already over is only dropped from the list. */
    fun answerBrowser(id: String, approve: Boolean) {
        try {
            requireNode().answerBrowser(id, approve)
        } catch (e: FerryException) {
            // Timed out or answered already: nothing waits any more.
        } finally {
            _linkShare.update { it?.answered(id) }
        }
    }

    /** Closes the share: running downloads stop, browsers must ask again next time. */
    fun stopShare() {
        shareGeneration.incrementAndGet()
        ferry?.stopShare()
        _linkShare.value = null
    }

    /** Serves the receive page (or stops): browsers open [links] and upload, each upload asked about. */
    fun setReceivePage(on: Boolean) {
        requireNode().setReceivePage(on)
        _receivePage.value = on
    }

    /** The links browsers open to reach this device's pages, one per address (empty when the node is not running). */
    fun links(): List<String> = ferry?.links() ?: emptyList()

    /** The events of share number [generation]: those of a share closed since are dropped. */
    private inner class ShareEvents(private val generation: Int) : ShareListener {
        override fun onBrowser(request: BrowserRequest) = guard("browser request") {
            if (generation == shareGeneration.get()) _linkShare.update { it?.asked(request, clock()) }
        }

        override fun onShare(update: ShareUpdate) = guard("share update ${update::class.simpleName}") {
            if (generation == shareGeneration.get()) _linkShare.update { it?.after(update) }
        }
    }

    // ---- receiving ---------------------------------------------------------------------

    /** Accepts a request: every file, or only [fileIds]. [trustSender] also trusts a verified sender. */
    fun accept(sessionId: String, fileIds: Set<String>? = null, trustSender: Boolean = false) {
        val req = _requests.value.firstOrNull { it.sessionId == sessionId }
        if (trustSender && req != null && req.verified) trust(req.senderFingerprint, req.senderAlias)
        val decision = if (fileIds == null || req != null && fileIds.containsAll(req.files.map { it.id })) Decision.AcceptAll
            else Decision.Accept(fileIds.toList())
        answer(sessionId, decision)
    }

    fun decline(sessionId: String) {
        declined.add(sessionId)
        answer(sessionId, Decision.Decline)
    }

    private fun answer(sessionId: String, decision: Decision) {
        try {
            requireNode().answer(sessionId, decision)
        } finally {
            // Answered, or gone already (the sender gave up): either way nothing is waiting.
            _requests.update { list -> list.filter { it.sessionId != sessionId } }
        }
    }

    fun dismissText(id: Long) {
        _texts.update { list -> list.filter { it.id != id } }
    }

    /** The user saw the PIN warning; the next wrong PIN shows a new one. */
    fun dismissPinWarning() {
        _pinWarning.value = null
    }

    private inner class Listener : NodeListener {
        override fun onDeviceFound(device: Device) = guard("device found") { found.update { it + (device.fingerprint to device) } }
        override fun onDeviceUpdated(device: Device) = guard("device updated") { found.update { it + (device.fingerprint to device) } }
        override fun onDeviceLost(device: Device) = guard("device lost") { found.update { it - device.fingerprint } }

        override fun onRequest(request: IncomingRequest) = guard("request") { request(request) }

        override fun onText(sender: Sender, text: String) = guard("text") { text(sender, text) }

        override fun onReceive(update: ReceiveUpdate) {
            val end = (update as? ReceiveUpdate.Finished)?.sessionId
            guard("receive update ${update::class.simpleName}", onFailure = { e -> if (end != null) forceEnd(RECEIVE + end, e) }) {
                receive(update)
            }
        }

        private fun request(request: IncomingRequest) {
            val s = request.sender
            if (!_settings.value.receiving) {
                // Receiving is off (the node runs for sending and the nearby list): declined, never shown.
                sessions[request.sessionId] = ReceiveSession(s, request.files)
                declined.add(request.sessionId)
                runCatching { ferry?.answer(request.sessionId, Decision.Decline) }
                return
            }
            val r = PendingRequest(request.sessionId, s.alias, s.deviceModel, s.deviceKind, s.fingerprint, s.address, s.verified, s.trusted,
                request.verificationCode, request.files, request.totalSize.toLong(), clock(), request.emptyFolders.toInt())
            sessions[request.sessionId] = ReceiveSession(s, request.files)
            _requests.update { it + r }
        }

        private fun text(sender: Sender, text: String) {
            val t = ReceivedText(textIds.incrementAndGet(), sender.alias, sender.fingerprint, sender.verified, text, clock())
            _texts.update { listOf(t) + it }
            record(HistoryEntry("text-${t.atMs}-${t.id}", Direction.RECEIVE, sender.alias, sender.fingerprint, emptyList(),
                text.toByteArray().size.toLong(), HistoryOutcome.DONE, null, t.atMs, text))
        }

        private fun receive(update: ReceiveUpdate) {
            when (update) {
                is ReceiveUpdate.Started -> {
                    if (!_settings.value.receiving) {
                        // Accepted by a quick-save node whose restart (receiving turned off during a
                        // transfer) is still to come: nothing is received while off.
                        ferry?.cancelReceive()
                    }
                    // A request asked about made a session first; quick save accepts without one.
                    val asked = sessions.containsKey(update.sessionId)
                    val session = ReceiveSession(update.sender, update.files)
                    sessions[update.sessionId] = session
                    meters[RECEIVE + update.sessionId] = RateMeter()
                    _requests.update { list -> list.filter { it.sessionId != update.sessionId } }
                    val t = Transfer(RECEIVE + update.sessionId, Direction.RECEIVE, update.sender.alias, update.sender.fingerprint,
                        update.files.map { it.name }, 0, update.files.sumOf { it.size.toLong() }, 0, 0, TransferState.RUNNING, startedAtMs = clock(),
                        savedWithoutAsking = !asked, filesSkipped = skippedEarly.remove(update.sessionId) ?: 0)
                    _transfers.update { listOf(t) + it }
                }
                is ReceiveUpdate.Progress -> {
                    val session = sessions[update.sessionId] ?: return
                    session.received[update.fileId] = update.received.toLong()
                    val done = session.received.values.sum()
                    meters[RECEIVE + update.sessionId]?.let { m -> synchronized(m) { m.add(clock(), done) } }
                    change(update.sessionId) { measured(it.copy(bytesDone = done)) }
                    tickSpeeds()
                }
                is ReceiveUpdate.FileSaved -> {
                    val session = sessions[update.sessionId] ?: return
                    session.saved.add(update.fileId)
                    update.path?.let { locations[update.sessionId to update.fileId] = it }
                    change(update.sessionId) { it.copy(filesDone = session.saved.size) }
                }
                is ReceiveUpdate.FileFailed -> {
                    val session = sessions[update.sessionId] ?: return
                    session.received.remove(update.fileId)
                    if (!update.willRetry) change(update.sessionId) { it.copy(filesFailed = it.filesFailed + 1, message = update.message) }
                }
                is ReceiveUpdate.FileResumed -> {
                    val session = sessions[update.sessionId] ?: return
                    session.received[update.fileId] = update.offset.toLong()
                    val done = session.received.values.sum()
                    meters[RECEIVE + update.sessionId]?.let { m -> synchronized(m) { m.rebase(done) } }
                    change(update.sessionId) { it.copy(bytesDone = done, resumedAtBytes = update.offset.toLong()) }
                }
                // Told when the request is answered, before the session starts: counted when it does.
                is ReceiveUpdate.FilesSkipped -> {
                    if (skippedEarly.size >= MAX_SKIPPED_EARLY) skippedEarly.clear()
                    skippedEarly.merge(update.sessionId, update.fileIds.size, Int::plus)
                    change(update.sessionId) { it.copy(filesSkipped = it.filesSkipped + (skippedEarly.remove(update.sessionId) ?: 0)) }
                }
                is ReceiveUpdate.FoldersCreated -> {}
                is ReceiveUpdate.Declined -> {}
                is ReceiveUpdate.Finished -> finished(update.sessionId, update.outcome)
                is ReceiveUpdate.RequestClosed -> closed(update.sessionId)
                is ReceiveUpdate.PinFailed -> onPinFailed(update)
            }
        }

        private fun change(sessionId: String, f: (Transfer) -> Transfer) =
            _transfers.update { list -> list.map { if (it.id == RECEIVE + sessionId && !it.state.finished) f(it) else it } }

        private fun finished(sessionId: String, outcome: TransferOutcome) {
            val session = sessions.remove(sessionId)
            meters.remove(RECEIVE + sessionId)
            val (state, result) = when (outcome) {
                is TransferOutcome.Finished -> if (outcome.failed > 0u) TransferState.DONE to HistoryOutcome.PARTIAL else TransferState.DONE to HistoryOutcome.DONE
                TransferOutcome.CancelledBySender, TransferOutcome.CancelledByReceiver -> TransferState.CANCELLED to HistoryOutcome.CANCELLED
                TransferOutcome.TimedOut -> TransferState.FAILED to HistoryOutcome.FAILED
            }
            val message = when (outcome) {
                TransferOutcome.CancelledBySender -> "Cancelled by the sender"
                TransferOutcome.TimedOut -> "Nothing arrived for too long"
                else -> null
            }
            val t = _transfers.value.firstOrNull { it.id == RECEIVE + sessionId }
            // Ended first, recorded next: a failure to record never leaves the transfer running.
            change(sessionId) { it.copy(state = state, message = message ?: it.message) }
            openDocs.keys.removeAll { it.first == sessionId }
            if (session != null) {
                val files = session.files.filter { it.id in session.saved }.map { f -> HistoryFile(f.name, f.size.toLong(), locations[sessionId to f.id]) }
                record(HistoryEntry(RECEIVE + sessionId, Direction.RECEIVE, session.sender.alias, session.sender.fingerprint, files,
                    files.sumOf { it.size }, result, message ?: t?.message, clock()))
            }
            locations.keys.removeAll { it.first == sessionId }
            skippedEarly.remove(sessionId)
            maybeRestart()
        }

        private fun closed(sessionId: String) {
            _requests.update { list -> list.filter { it.sessionId != sessionId } }
            locations.keys.removeAll { it.first == sessionId }
            skippedEarly.remove(sessionId)
            val session = sessions.remove(sessionId) ?: return
            val byUs = declined.remove(sessionId)
            record(HistoryEntry(RECEIVE + sessionId, Direction.RECEIVE, session.sender.alias, session.sender.fingerprint,
                session.files.map { HistoryFile(it.name, it.size.toLong(), null) }, 0,
                if (byUs) HistoryOutcome.DECLINED else HistoryOutcome.CANCELLED, if (byUs) null else "Withdrawn by the sender", clock()))
            maybeRestart()
        }
    }

    /** A wrong PIN reached this node: the warning shows the latest count, and how long PIN checks are locked. */
    internal fun onPinFailed(update: ReceiveUpdate.PinFailed) {
        val now = clock()
        val until = update.lockedSeconds?.let { now + it.coerceAtMost(MAX_LOCK_SECONDS.toULong()).toLong() * 1000 }
        _pinWarning.update { old ->
            // A lock still running is not forgotten by a later report without one.
            val kept = old?.lockedUntilMs?.takeIf { it > now }
            PinWarning(update.ip, update.failures.toInt(), listOfNotNull(until, kept).maxOrNull(), now)
        }
    }

    /** [t] with its speed and time left as of now (unchanged when it has no meter). */
    private fun measured(t: Transfer): Transfer {
        val m = meters[t.id] ?: return t
        if (t.state.finished) return t
        val rate = synchronized(m) { m.rate(clock()) }
        return t.copy(bytesPerSecond = rate?.toLong(), secondsLeft = timeLeftSeconds(t.bytesDone, t.bytesTotal, rate))
    }

    /**
     * While bytes move, speeds are measured again every second even without updates, so that a
     * stall shows (the speed falls, the time left goes) instead of the last speed staying.
     */
    private fun tickSpeeds() {
        synchronized(meters) {
            if (speedTicker?.isActive == true) return
            speedTicker = scope.launch {
                while (isActive) {
                    delay(SPEED_TICK_MS)
                    _transfers.update { list -> list.map { if (meters.containsKey(it.id)) measured(it) else it } }
                    if (_transfers.value.none { !it.state.finished && meters.containsKey(it.id) }) break
                }
            }
        }
    }

    private fun maybeRestart() {
        val now = synchronized(nodeLock) { (restartWhenIdle && !isReceiving()).also { if (it) restartWhenIdle = false } }
        if (now) scope.launch { restart() }
    }

    /** Sends incoming files to the app's [DocumentSaver] (MediaStore, SAF) when the destination is one. */
    private inner class Sink : FileSink {
        override fun openFile(sessionId: String, file: OfferedFile): FileDestination {
            val dest = _settings.value.destination
            val s = saver
            if (s == null || dest is Destination.Directory) return FileDestination.ReceiveDirectory
            return try {
                val doc = s.create(dest, sessionId, file)
                openDocs[sessionId to file.id] = doc
                locations[sessionId to file.id] = doc.location
                FileDestination.Descriptor(doc.fd)
            } catch (e: Throwable) {
                // Errors too (an API missing on this Android version): the file is refused, the node goes on.
                if (e !is Exception) problem("create ${file.name}", e)
                FileDestination.Refuse(e.message ?: "cannot create ${file.name}")
            }
        }

        override fun closeFile(sessionId: String, fileId: String, complete: Boolean) {
            val doc = openDocs.remove(sessionId to fileId) ?: return
            try {
                if (complete) doc.publish() else {
                    doc.discard()
                    locations.remove(sessionId to fileId)
                }
            } catch (e: Throwable) {
                // The document stays as it is; nothing else to do from here.
                problem("close $fileId", e)
            }
        }
    }

    // ---- trust and history -------------------------------------------------------------

    /** Trusts a device (quick save from trusted devices; a badge). */
    fun trust(fingerprint: String, alias: String?) {
        requireNode().trust(fingerprint, alias)
        refreshTrusted()
    }

    fun untrust(fingerprint: String) {
        requireNode().untrust(fingerprint)
        refreshTrusted()
    }

    /** The code to compare with the user of [fingerprint]. */
    fun verificationCode(fingerprint: String): String = requireNode().verificationCode(fingerprint).digits

    private fun refreshTrusted() {
        val n = ferry ?: return
        _trusted.value = n.trustedDevices().map { TrustedEntry(it.fingerprint, it.alias, n.verificationCode(it.fingerprint).digits) }
    }

    /** Adds to the history; a failure (the disk is full, say) is kept in [problems], never thrown. */
    private fun record(e: HistoryEntry) {
        try {
            _history.value = historyStore.add(e)
        } catch (t: Throwable) {
            problem("record ${e.id} in the history", t)
        }
    }

    // ---- failures in calls from the node -------------------------------------------------

    private fun problem(what: String, e: Throwable) {
        val p = Problem(what, "${e::class.java.name}: ${e.message ?: ""}".trimEnd(' ', ':'), clock())
        _problems.update { (it + p).takeLast(MAX_PROBLEMS) }
    }

    /**
     * Runs a call from the node: whatever it throws (errors too: the generated bindings catch only
     * exceptions, and an error would leave the node's call without an answer) is kept in
     * [problems], then [onFailure] runs (guarded too).
     */
    private inline fun guard(what: String, onFailure: (Throwable) -> Unit = {}, block: () -> Unit) {
        try {
            block()
        } catch (e: Throwable) {
            problem(what, e)
            try {
                onFailure(e)
            } catch (again: Throwable) {
                problem("$what, then ending it", again)
            }
        }
    }

    /** A transfer whose end could not be handled: it ends anyway (failed, with the reason), never left running. */
    private fun forceEnd(id: String, e: Throwable) {
        _transfers.update { list ->
            list.map {
                if (it.id != id || it.state.finished) it
                else it.copy(state = TransferState.FAILED, message = "Internal error: ${e.message ?: e::class.java.simpleName}")
            }
        }
    }

    fun removeHistory(id: String) {
        _history.value = historyStore.remove(id)
    }

    fun clearHistory() {
        _history.value = historyStore.clear()
    }

    private companion object {
        const val RECEIVE = "receive-"
        /** Longer locks are shown as this long (a year): no overflow of the clock. */
        const val MAX_LOCK_SECONDS = 365L * 24 * 3600
        /** How many [problems] are kept. */
        const val MAX_PROBLEMS = 20
        /** How often speeds are measured again while bytes move. */
        const val SPEED_TICK_MS = 1_000L
        /** Most sessions whose skipped files wait for their start (a session with nothing left to receive never starts). */
        const val MAX_SKIPPED_EARLY = 64

        fun hostPort(host: String, port: Int) = if (host.contains(':') && !host.startsWith("[")) "[$host]:$port" else "$host:$port"
    }
}
