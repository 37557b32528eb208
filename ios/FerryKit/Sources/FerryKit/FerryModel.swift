import Foundation
import Observation
import FerryCore

/// Network options for special setups (tests: discovery off, loopback only).
public struct NetworkOptions: Sendable {
    /// Announce, answer and scan on the local network.
    public var discovery: Bool
    /// Listen on this address only (e.g. "127.0.0.1"); nil: every address.
    public var bindAddress: String?
    /// While discovery is held (the nearby list is on screen) it rescans this often.
    public var rescanInterval: Duration
    /// How long `discovering` stays on after a pull-to-refresh scan, for late answers.
    public var scanLinger: Duration
    /// How long the nearby list says it is looking before it says that nothing was found, and
    /// what to check (`nearbyStatus`).
    public var searchPatience: Duration

    public init(discovery: Bool = true, bindAddress: String? = nil, rescanInterval: Duration = .seconds(30),
                scanLinger: Duration = .seconds(2), searchPatience: Duration = .seconds(15)) {
        self.discovery = discovery
        self.bindAddress = bindAddress
        self.rescanInterval = rescanInterval
        self.scanLinger = scanLinger
        self.searchPatience = searchPatience
    }
}

/// What the model needs to know about the device it runs on.
public struct DeviceInfo: Sendable {
    /// The name others see until the user picks one.
    public var defaultAlias: String
    /// e.g. "iPhone", "iPad".
    public var model: String
    public var kind: DeviceType

    public init(defaultAlias: String, model: String, kind: DeviceType) {
        self.defaultAlias = defaultAlias
        self.model = model
        self.kind = kind
    }
}

/// Where the model keeps its files.
public struct FerryPaths: Sendable {
    /// Settings, history, and the node's identity and trusted devices (in `node/`).
    public var dataDirectory: URL
    /// Where received files go.
    public var receiveDirectory: URL

    public init(dataDirectory: URL, receiveDirectory: URL) {
        self.dataDirectory = dataDirectory
        self.receiveDirectory = receiveDirectory
    }
}

/// Keeps discovery going while held (the nearby list or a device picker is on screen). Give it
/// up with `release()`; deallocating it does too.
public final class DiscoveryHold: @unchecked Sendable {
    // `released` is guarded by `lock`; `model` is only read under it.
    private let lock = NSLock()
    private var released = false
    private weak var model: FerryModel?

    init(model: FerryModel) {
        self.model = model
    }

    /// Gives the hold up. Further calls do nothing.
    public func release() {
        let model: FerryModel? = lock.withLock {
            guard !released else { return nil }
            released = true
            return self.model
        }
        guard let model else { return }
        if Thread.isMainThread {
            MainActor.assumeIsolated { model.releaseDiscovery() }
        } else {
            Task { @MainActor in model.releaseDiscovery() }
        }
    }

    deinit {
        release()
    }
}

/// Ferry for the app: one node, its state (observable, on the main actor), and what the user can do.
///
/// The node reports on Ferry's own threads. Its listeners only put events into one
/// `AsyncStream`, which a single main-actor task drains, so events are applied one at a time
/// and in the order they came.
@MainActor
@Observable
public final class FerryModel {
    // MARK: State

    /// Incoming transfers waiting for an answer, oldest first.
    public private(set) var requests: [PendingRequest] = []
    /// Running transfers and finished ones until dismissed, newest first.
    public private(set) var transfers: [Transfer] = []
    /// Finished transfers and texts, newest first, kept across runs.
    public private(set) var history: [HistoryEntry]
    /// Text messages not dismissed yet, newest first.
    public private(set) var texts: [ReceivedText] = []
    public private(set) var trusted: [TrustedEntry] = []
    /// Wrong PINs sent to this device: the latest count, until `dismissPinWarning()`.
    public private(set) var pinWarning: PinWarning?
    public private(set) var settings: Settings
    public private(set) var nodeState: NodeState = .stopped
    /// True while discovery is held or a scan lingers.
    public private(set) var discovering = false
    /// What the system said about the local network (`reportLocalNetwork(_:)`).
    public private(set) var localNetwork: LocalNetworkAccess = .unknown

    /// What the nearby list says: devices, still looking, nothing found for a while (with what
    /// to check), or the local network refused by the system.
    public var nearbyStatus: NearbyStatus {
        _ = searchTick
        return search.status(online: found.count, access: localNetwork, at: .now)
    }

    /// Found devices and favorites: favorites first, then by name.
    public var devices: [NearbyDevice] { merge(found, favorites: settings.favorites) }

    /// Whether a transfer (sent or received) is running.
    public var hasActiveTransfers: Bool { transfers.contains { !$0.state.isFinished } }

    /// Called when a receive ended with saved files (e.g. to add media to the photo library).
    @ObservationIgnored public var onFilesReceived: (@MainActor (HistoryEntry) -> Void)?
    /// Called when files were saved without asking (quick save): the app posts the notice as a
    /// local notification.
    @ObservationIgnored public var onQuickSave: (@MainActor (QuickSaveNotice) -> Void)?
    /// The clock progress is timed with (speed and time left).
    @ObservationIgnored var clock: @MainActor () -> ContinuousClock.Instant = { .now }

    /// The Ferry library's version.
    public nonisolated static var libraryVersion: String { ferryVersion() }

    private var found: [String: Device] = [:]
    private var search: NearbySearch
    /// Bumped when the search's patience ran out, so that `nearbyStatus` is read again.
    private var searchTick = 0

    // MARK: Internals

    private static let receivePrefix = "receive-"
    /// The history's message for a transfer that an earlier run did not see end.
    public static let interrupted = "Interrupted: Ferry was closed before the transfer ended"
    /// Longer PIN locks are shown as this long (a year).
    private static let maxLockSeconds: UInt64 = 365 * 24 * 3600

    private let paths: FerryPaths
    private let device: DeviceInfo
    private let network: NetworkOptions
    private let settingsStore: SettingsStore
    private let historyStore: HistoryStore
    private let journal: TransferJournal
    private let events: AsyncStream<Event>.Continuation

    @ObservationIgnored private var node: FerryNode?
    @ObservationIgnored private var ownFingerprint: String?
    /// Bumped at every start and stop: reports of an earlier node are ignored.
    @ObservationIgnored private var generation = 0
    /// Settings changed while receiving: the node restarts once idle.
    @ObservationIgnored private var restartWhenIdle = false
    @ObservationIgnored private var sends: [String: SendJob] = [:]
    @ObservationIgnored private var sendCount = 0
    @ObservationIgnored private var textCount = 0
    /// Per receive session: offered files, and where each went.
    @ObservationIgnored private var sessions: [String: ReceiveSession] = [:]
    /// Requests the user declined (to tell a decline from a withdrawal).
    @ObservationIgnored private var declinedByUser: Set<String> = []
    /// Receive sessions that were asked about (the others were saved without asking).
    @ObservationIgnored private var asked: Set<String> = []
    /// Files skipped in a session reported before it started (at most one session runs).
    @ObservationIgnored private var earlySkips: (sessionId: String, count: Int)?
    @ObservationIgnored private var reconnect = ReconnectTrigger()
    @ObservationIgnored private var discoveryHolders = 0
    @ObservationIgnored private var rescanTask: Task<Void, Never>?
    @ObservationIgnored private var patienceTask: Task<Void, Never>?

    public init(paths: FerryPaths, device: DeviceInfo, network: NetworkOptions = NetworkOptions()) {
        let settingsStore = SettingsStore(url: paths.dataDirectory.appending(path: "settings.json"))
        let historyStore = HistoryStore(url: paths.dataDirectory.appending(path: "history.json"))
        let stored = settingsStore.load()
        let alias = String(device.defaultAlias.trimmingCharacters(in: .whitespacesAndNewlines).prefix(Settings.maxAlias))
        let initial = stored ?? Settings(alias: alias.isEmpty ? "Ferry" : alias, deviceKind: device.kind)
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)

        self.paths = paths
        self.device = device
        self.network = network
        self.settingsStore = settingsStore
        self.historyStore = historyStore
        self.events = continuation
        settings = initial
        search = NearbySearch(patience: network.searchPatience)

        // Transfers an earlier run did not see end (iOS suspended or ended it first): in the
        // history as interrupted. Their partial files are removed by the node when it starts.
        let journal = TransferJournal(url: paths.dataDirectory.appending(path: "running.json"))
        self.journal = journal
        for left in journal.takeLeftovers() {
            _ = try? historyStore.add(HistoryEntry(
                id: left.id, direction: left.direction, peerAlias: left.peerAlias, peerFingerprint: left.peerFingerprint,
                files: left.fileNames.map { HistoryFile(name: $0, size: 0, location: nil) }, bytes: 0, outcome: .failed,
                message: Self.interrupted, date: left.startedAt
            ))
        }
        history = historyStore.entries

        // A generated name stays the same across runs.
        if stored == nil { try? settingsStore.save(initial) }

        Task { [weak self] in
            for await event in stream {
                guard let self else { return }
                self.apply(event)
            }
        }
    }

    deinit {
        events.finish()
    }

    // MARK: The node

    /// The start in flight, if any: `FerryNode.start` is asynchronous, so that the main actor
    /// never waits for the disk or the network.
    @ObservationIgnored private var starting: Task<NodeState, Never>?

    /// Starts the node (receiving, discovery) with the current settings. Does nothing when it runs;
    /// a start already in flight is awaited, not repeated.
    @discardableResult
    public func start() async -> NodeState {
        if node != nil { return nodeState }
        if let starting { return await starting.value }
        let task = Task { await self.startNode() }
        starting = task
        let state = await task.value
        if starting == task { starting = nil }
        return state
    }

    private func startNode() async -> NodeState {
        let s = settings
        let nodeDirectory = paths.dataDirectory.appending(path: "node", directoryHint: .isDirectory)
        generation += 1
        let mine = generation
        do {
            let fm = FileManager.default
            try fm.createDirectory(at: nodeDirectory, withIntermediateDirectories: true)
            try fm.createDirectory(at: paths.receiveDirectory, withIntermediateDirectories: true)
            let config = NodeConfig(
                alias: s.alias,
                deviceKind: s.deviceKind.ffi,
                deviceModel: device.model,
                port: UInt16(clamping: s.port),
                configDir: nodeDirectory.path(percentEncoded: false),
                receiveDir: paths.receiveDirectory.path(percentEncoded: false),
                pin: s.pin,
                encryption: s.encryption,
                discovery: network.discovery,
                interfacesInclude: [],
                interfacesExclude: [],
                // Receiving off: every request is asked about, and declined at once.
                receiveMode: s.receiving ? s.quickSave.receiveMode : .askAll,
                bindAddress: network.bindAddress,
                skipExisting: s.skipExisting
            )
            let started = try await FerryNode.start(config: config, listener: NodeEvents(generation: mine, sink: events))
            // Stopped (or started again) while this start was under way: this node is not wanted.
            guard mine == generation else {
                started.stop()
                return nodeState
            }
            node = started
            let fingerprint = started.fingerprint()
            ownFingerprint = fingerprint
            nodeState = .running(fingerprint: fingerprint, port: Int(started.port()))
        } catch {
            // (A start that was stopped meanwhile leaves the state to the stop.)
            if mine == generation { nodeState = .failed(message: ErrorKinds.message(for: error)) }
            return nodeState
        }
        if receivePage { try? node?.setReceivePage(on: true) }
        refreshFound()
        refreshTrusted()
        probeFavorites()
        return nodeState
    }

    /// Stops receiving and discovery. Running sends go on until they end; a pending request or
    /// a running receive ends here.
    public func stop() {
        if starting != nil {
            // A start under way: its node is stopped as soon as it is there (see `startNode`).
            starting = nil
            generation += 1
            nodeState = .stopped
        }
        guard let current = node else { return }
        node = nil
        generation += 1
        restartWhenIdle = false
        current.stop()
        // The share went with the node's server.
        linkShare = nil
        shareResources?.release()
        shareResources = nil
        found = [:]
        for request in requests {
            closeRequest(request.sessionId, message: "Ferry stopped")
        }
        for transfer in transfers where transfer.direction == .receive && !transfer.state.isFinished {
            finishReceive(String(transfer.id.dropFirst(Self.receivePrefix.count)), outcome: .cancelledByReceiver)
        }
        requests = []
        // Declined requests whose closing the old node would have reported.
        sessions.removeAll()
        declinedByUser.removeAll()
        asked.removeAll()
        earlySkips = nil
        nodeState = .stopped
    }

    /// Applies new settings: a running node starts again, one that failed gets another try.
    private func restart() {
        switch nodeState {
        case .stopped:
            return
        case .running:
            stop()
            Task { await start() }
        case .failed:
            Task { await start() }
        }
    }

    private func requireNode() throws -> FerryNode {
        guard let node else { throw FerryModelError.notRunning }
        return node
    }

    private var isReceiving: Bool {
        !requests.isEmpty || transfers.contains { $0.direction == .receive && !$0.state.isFinished }
    }

    private func maybeRestart() {
        guard restartWhenIdle, !isReceiving else { return }
        restartWhenIdle = false
        restart()
    }

    // MARK: Settings

    /// Changes the settings: validated (throws `SettingsError`), saved, and applied; the node
    /// restarts when alias, type, port, encryption, PIN, quick save, receiving or skipping files
    /// already received change (after
    /// the running receive, if there is one).
    public func updateSettings(_ change: (inout Settings) -> Void) throws {
        var changed = settings
        change(&changed)
        let new = try changed.validated()
        guard new != settings else { return }
        try settingsStore.save(new)
        let old = settings
        settings = new
        if old.needsRestart(for: new) {
            if isReceiving { restartWhenIdle = true } else { restart() }
        }
    }

    // MARK: Nearby devices

    /// Holds discovery: rescans now and every `NetworkOptions.rescanInterval` until released.
    public func holdDiscovery() -> DiscoveryHold {
        acquireDiscovery()
        if rescanTask == nil {
            let interval = network.rescanInterval
            rescanTask = Task { [weak self] in
                while !Task.isCancelled {
                    guard self != nil else { return }
                    _ = try? await self?.scanOnce()
                    try? await Task.sleep(for: interval)
                }
            }
        }
        return DiscoveryHold(model: self)
    }

    /// Announces and scans once ("pull to refresh"). Returns how many devices answered. A node
    /// that failed to start gets another try first.
    @discardableResult
    public func rescan() async -> Int {
        if node == nil, case .failed = nodeState { await start() }
        acquireDiscovery()
        defer { releaseDiscovery(after: network.scanLinger) }
        return (try? await scanOnce()) ?? 0
    }

    private func scanOnce() async throws -> Int {
        let current = try requireNode()
        let answered = try await current.scan()
        refreshFound(from: current)
        return Int(answered)
    }

    private func acquireDiscovery() {
        discoveryHolders += 1
        discovering = true
        guard discoveryHolders == 1 else { return }
        search.started(at: .now)
        let patience = search.patience
        patienceTask?.cancel()
        patienceTask = Task { [weak self] in
            try? await Task.sleep(for: patience)
            guard !Task.isCancelled else { return }
            self?.searchTick += 1
        }
    }

    /// Tells the model what the system said about the local network (the app learns it from a
    /// Bonjour browse, which iOS refuses with a "policy denied" error when Local Network is off
    /// for Ferry).
    public func reportLocalNetwork(_ access: LocalNetworkAccess) {
        localNetwork = access
    }

    func releaseDiscovery() {
        guard discoveryHolders > 0 else { return }
        discoveryHolders -= 1
        guard discoveryHolders == 0 else { return }
        rescanTask?.cancel()
        rescanTask = nil
        patienceTask?.cancel()
        patienceTask = nil
        search.stopped()
        discovering = false
    }

    private func releaseDiscovery(after delay: Duration) {
        Task { [weak self] in
            try? await Task.sleep(for: delay)
            self?.releaseDiscovery()
        }
    }

    private func refreshFound(from current: FerryNode? = nil) {
        guard let node, current == nil || node === current else { return }
        found = Dictionary(node.devices().map { ($0.fingerprint, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// Looks for a device at `host[:port]` and lists it. Throws `FerryError` when nothing answers.
    @discardableResult
    public func addByAddress(_ address: String, favorite: Bool = false) async throws -> NearbyDevice {
        let current = try requireNode()
        let answer = try await current.addAddress(address: address.trimmingCharacters(in: .whitespacesAndNewlines))
        found[answer.fingerprint] = answer
        if favorite { try setFavorite(answer.fingerprint, favorite: true) }
        return nearby(answer, favorite: settings.favorites.contains { $0.fingerprint == answer.fingerprint })
    }

    /// Keeps a device in the list (and reaches it at its last address when discovery does not).
    public func setFavorite(_ fingerprint: String, favorite: Bool) throws {
        try updateSettings { s in
            let old = s.favorites.first { $0.fingerprint == fingerprint }
            s.favorites.removeAll { $0.fingerprint == fingerprint }
            guard favorite else { return }
            let seen = found[fingerprint]
            s.favorites.append(Favorite(
                fingerprint: fingerprint,
                alias: seen?.alias ?? old?.alias ?? String(fingerprint.prefix(8)),
                address: seen.flatMap { d in d.addresses.first.map { Self.hostPort($0, port: d.port) } } ?? old?.address,
                kind: seen.map { DeviceType($0.deviceKind) } ?? old?.kind ?? .mobile
            ))
            // A trusted favorite's address is kept by the node too, which probes it (pinned) when it starts.
            if let address = s.favorites.last?.address { _ = try? node?.setAddress(fingerprint: fingerprint, address: address) }
        }
    }

    /// Favorites that discovery did not find are asked directly, at their last address, pinned to
    /// their fingerprint.
    private func probeFavorites() {
        guard let current = node else { return }
        for favorite in settings.favorites where found[favorite.fingerprint] == nil {
            guard let address = favorite.address else { continue }
            Task { [weak self] in
                // Ferry gives up on an address after a few seconds.
                // Pinned: only the device with the favorite's fingerprint answers for it.
                guard let answer = try? await current.probeFavorite(fingerprint: favorite.fingerprint, address: address),
                      let self, self.node === current else { return }
                self.found[answer.fingerprint] = answer
            }
        }
    }

    private func merge(_ found: [String: Device], favorites: [Favorite]) -> [NearbyDevice] {
        let favored = Set(favorites.map(\.fingerprint))
        let online = found.values.map { nearby($0, favorite: favored.contains($0.fingerprint)) }
        let offline = favorites.filter { found[$0.fingerprint] == nil }.map { f in
            NearbyDevice(fingerprint: f.fingerprint, alias: f.alias, kind: f.kind, model: nil, address: f.address,
                         verified: false, encryption: settings.encryption, favorite: true, online: false)
        }
        return (online + offline).sorted { a, b in
            if a.favorite != b.favorite { return a.favorite }
            switch a.alias.localizedCaseInsensitiveCompare(b.alias) {
            case .orderedAscending: return true
            case .orderedDescending: return false
            case .orderedSame: return a.fingerprint < b.fingerprint
            }
        }
    }

    private func nearby(_ d: Device, favorite: Bool) -> NearbyDevice {
        NearbyDevice(fingerprint: d.fingerprint, alias: d.alias, kind: DeviceType(d.deviceKind), model: d.deviceModel,
                     address: d.addresses.first.map { Self.hostPort($0, port: d.port) }, verified: d.verified,
                     encryption: d.encryption, favorite: favorite, online: true)
    }

    static func hostPort(_ host: String, port: UInt16) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    // MARK: Pairing

    /// A pairing code from a `ferry://pair` link (the Camera app's QR recognition), being paired
    /// or its result, until `dismissLinkPairing()`: the app shows it wherever the user is.
    public private(set) var linkPairing: LinkPairing?

    /// This device's pairing code (`ferry://pair?v=1&fp=...&ip=...`) to show as a QR code; nil
    /// when Ferry is not running or has no network address.
    public func pairingCode() -> String? {
        try? node?.pairingCode()
    }

    /// Pairs with the device a scanned or pasted code describes: Ferry probes its addresses over
    /// HTTPS pinned to the code's fingerprint and trusts it only when it proves it. A paired
    /// device is also kept as a favorite (listed, and reached at that address, where discovery
    /// does not find it).
    public func pair(code: String) async -> PairingResult {
        let text = code.trimmingCharacters(in: .whitespacesAndNewlines)
        guard FerryLink.isPairingCode(text) else { return .notAFerryCode }
        guard let current = node else { return .notRunning }
        let device: Device
        do {
            device = try await current.pair(code: text)
        } catch {
            return PairingResult(error: error)
        }
        if node === current {
            found[device.fingerprint] = device
            refreshTrusted()
        }
        try? setFavorite(device.fingerprint, favorite: true)
        return .paired(alias: device.alias, fingerprint: device.fingerprint)
    }

    /// Pairs with a code that came as a `ferry://pair` link; the progress and result are in
    /// `linkPairing`. A link may open Ferry before its node runs: it is started first.
    public func pair(link code: String) async {
        linkPairing = LinkPairing(code: code, result: nil)
        if node == nil { await start() }
        let result = await pair(code: code)
        if linkPairing?.code == code { linkPairing = LinkPairing(code: code, result: result) }
    }

    public func dismissLinkPairing() {
        linkPairing = nil
    }

    // MARK: Share via link

    /// The open share via link, if any.
    public private(set) var linkShare: LinkShareState?
    /// Whether the receive page is served (browsers upload files; each upload is a request).
    public private(set) var receivePage = false
    @ObservationIgnored private var shareCount = 0
    @ObservationIgnored private var shareResources: SendResources?

    /// Shares files and folders by link, closing any open share: browsers (and LocalSend apps)
    /// on the network open `linkShare.links` and, once let in (`answerBrowser`, or everyone with
    /// `approveEveryone`), download. The items' security scopes are held until `stopShare()`.
    /// Browsers open the share over plain HTTP when encryption is off; with it they must click
    /// through a certificate warning.
    public func startShare(items: [OutgoingItem], pin: String? = nil, approveEveryone: Bool = false) throws {
        let resources = SendResources(items)
        do {
            guard !items.isEmpty else { throw FerryModelError.nothingToSend }
            let current = try requireNode()
            stopShare()
            shareCount += 1
            let info = try current.startShare(items: items.map { SendItem.path(path: $0.url.path(percentEncoded: false)) },
                                              pin: Self.normalized(pin), approveAll: approveEveryone,
                                              listener: ShareEvents(generation: generation, share: shareCount, sink: events))
            shareResources = resources
            linkShare = LinkShareState(links: info.links, files: info.files, folders: info.folders,
                                       totalBytes: Int64(clamping: info.totalBytes), pin: Self.normalized(pin),
                                       approveEveryone: approveEveryone)
        } catch {
            resources.release()
            throw error
        }
    }

    /// Lets a browser that asks see the share (it may download until the share stops), or not.
    public func answerBrowser(_ id: String, approve: Bool) {
        // Unknown or already over (Ferry declines after two minutes): nothing waits any more.
        defer { linkShare?.waiting.removeAll { $0.id == id } }
        try? node?.answerBrowser(requestId: id, approve: approve)
    }

    /// Closes the share: running downloads stop; browsers must ask again next time.
    public func stopShare() {
        if linkShare != nil { _ = node?.stopShare() }
        linkShare = nil
        shareResources?.release()
        shareResources = nil
    }

    /// Serves the receive page (or stops): browsers open `pageLinks()` and upload files, each
    /// upload asked about like any request (from "Browser", unverified). Kept while Ferry runs,
    /// also across restarts.
    public func setReceivePage(_ on: Bool) throws {
        if let node { try node.setReceivePage(on: on) }
        receivePage = on
    }

    /// The links browsers open to reach this device's pages (the share, the receive page).
    public func pageLinks() -> [String] {
        node?.links() ?? []
    }

    // MARK: Sending

    private func target(for device: NearbyDevice) throws -> SendTarget {
        if found[device.fingerprint] != nil { return .device(fingerprint: device.fingerprint) }
        guard let address = device.address else { throw FerryModelError.unreachable(alias: device.alias) }
        return .address(address: address, encryption: device.encryption, fingerprint: device.encryption ? device.fingerprint : nil)
    }

    /// Sends files and folders to `device`. Returns the transfer's id; its progress is in
    /// `transfers`, and `onEnd` is called once it ended (after it is in `history`). Throws
    /// (`FerryError` for bad input, `FerryModelError`) before anything starts; the items'
    /// security scopes and temporary copies are released either way.
    @discardableResult
    public func send(to device: NearbyDevice, items: [OutgoingItem], pin: String? = nil,
                     onEnd: (@MainActor (TransferState) -> Void)? = nil) throws -> String {
        let resources = SendResources(items)
        let current: FerryNode
        let target: SendTarget
        do {
            guard !items.isEmpty else { throw FerryModelError.nothingToSend }
            current = try requireNode()
            target = try self.target(for: device)
        } catch {
            resources.release()
            throw error
        }
        sendCount += 1
        let now = Date()
        let id = "send-\(Int64(now.timeIntervalSince1970 * 1000))-\(sendCount)"
        let files = items.map { HistoryFile(name: $0.url.lastPathComponent, size: Self.size(of: $0.url), location: nil) }
        transfers.insert(Transfer(id: id, direction: .send, peerAlias: device.alias, peerFingerprint: device.fingerprint,
                                  fileNames: files.map(\.name), bytesDone: 0, bytesTotal: files.reduce(0) { $0 + $1.size },
                                  filesDone: 0, filesFailed: 0, state: .waiting, message: nil, errorKind: nil, startedAt: now),
                         at: 0)
        journal.add(transfers[0])
        do {
            let handle = try current.sendFiles(target: target,
                                               items: items.map { SendItem.path(path: $0.url.path(percentEncoded: false)) },
                                               pin: Self.normalized(pin),
                                               listener: SendEvents(id: id, sink: events))
            // Kept until the end: dropping a handle cancels its send.
            sends[id] = SendJob(handle: handle, files: files, resources: resources, onEnd: onEnd)
        } catch {
            transfers.removeAll { $0.id == id }
            journal.remove(id)
            resources.release()
            throw error
        }
        return id
    }

    /// Sends a text message. True when the receiver showed it.
    @discardableResult
    public func sendText(to device: NearbyDevice, text: String, pin: String? = nil) async throws -> Bool {
        let current = try requireNode()
        let target = try self.target(for: device)
        let shown = try await current.sendText(target: target, text: text, pin: Self.normalized(pin))
        textCount += 1
        let now = Date()
        record(HistoryEntry(id: "text-\(Int64(now.timeIntervalSince1970 * 1000))-\(textCount)", direction: .send,
                            peerAlias: device.alias, peerFingerprint: device.fingerprint, files: [],
                            bytes: Int64(text.utf8.count), outcome: shown ? .done : .declined, message: nil, date: now,
                            text: text))
        return shown
    }

    /// Cancels a transfer, sent or received (Ferry removes partial files).
    public func cancel(_ id: String) {
        if let job = sends[id] {
            job.handle.cancel()
            return
        }
        if id.hasPrefix(Self.receivePrefix), transfers.contains(where: { $0.id == id && !$0.state.isFinished }) {
            _ = node?.cancelReceive()
        }
    }

    /// Running sends try again now instead of waiting out their back-off after a break (Ferry
    /// waits up to 4 s between tries). A send whose connection is fine is not disturbed (its
    /// next break, if any, is retried at once). Sends still waiting for the receiver's answer
    /// are left alone. Returns how many sends were asked.
    @discardableResult
    public func retryNow() -> Int {
        var count = 0
        for transfer in transfers where transfer.direction == .send && transfer.state == .running {
            guard let job = sends[transfer.id] else { continue }
            job.handle.retryNow()
            count += 1
        }
        return count
    }

    /// The network path changed (`NWPathMonitor`): when it came back or changed, running sends
    /// reconnect at once (`retryNow`).
    public func networkPathChanged(_ path: NetworkPath) {
        if reconnect.pathChanged(path) { retryNow() }
    }

    /// The app came to the front: running sends that wait to reconnect try at once.
    public func cameToForeground() {
        if reconnect.cameToForeground() { retryNow() }
    }

    /// Cancels every running transfer.
    public func cancelAll() {
        for transfer in transfers where !transfer.state.isFinished {
            cancel(transfer.id)
        }
    }

    /// Cancels every running transfer and waits, at most `timeout`, until each has ended: its
    /// end is in the history, and Ferry removed the partial files of a receive. True when all
    /// ended in time. For the app's last seconds in the background, before iOS suspends it
    /// (what does not end in time is recorded as interrupted at the next launch).
    @discardableResult
    public func cancelAll(waitingAtMost timeout: Duration) async -> Bool {
        cancelAll()
        let deadline = ContinuousClock.now + timeout
        while hasActiveTransfers {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// Removes a finished transfer from `transfers`.
    public func dismiss(_ id: String) {
        transfers.removeAll { $0.id == id && $0.state.isFinished }
    }

    /// Removes every finished transfer from `transfers`.
    public func dismissFinished() {
        transfers.removeAll { $0.state.isFinished }
    }

    private static func normalized(_ pin: String?) -> String? {
        guard let pin, !pin.isEmpty else { return nil }
        return pin
    }

    private static func size(of url: URL) -> Int64 {
        Int64((try? url.resourceValues(forKeys: [.fileSizeKey]))?.fileSize ?? 0)
    }

    // MARK: Receiving

    /// Accepts a request: every file, or only `fileIDs` (none is a decline). `trustSender` also
    /// trusts a verified sender.
    public func accept(_ sessionId: String, fileIDs: Set<String>? = nil, trustSender: Bool = false) throws {
        let request = requests.first { $0.sessionId == sessionId }
        let decision: Decision
        if let fileIDs {
            let offered = request?.files.map(\.id) ?? Array(fileIDs)
            let chosen = offered.filter { fileIDs.contains($0) }
            if chosen.isEmpty {
                try decline(sessionId)
                return
            }
            decision = chosen.count == request?.files.count ? .acceptAll : .accept(fileIds: chosen)
        } else {
            decision = .acceptAll
        }
        try answer(sessionId, decision)
        if trustSender, let request, request.verified, !request.trusted {
            try trust(request.senderFingerprint, alias: request.senderAlias)
        }
    }

    public func decline(_ sessionId: String) throws {
        declinedByUser.insert(sessionId)
        try answer(sessionId, .decline)
    }

    private func answer(_ sessionId: String, _ decision: Decision) throws {
        // Answered, or gone already (the sender gave up): either way nothing is waiting.
        defer { requests.removeAll { $0.sessionId == sessionId } }
        try requireNode().answer(sessionId: sessionId, decision: decision)
    }

    /// The user saw the PIN warning; the next wrong PIN shows a new one.
    public func dismissPinWarning() {
        pinWarning = nil
    }

    public func dismissText(_ id: Int) {
        texts.removeAll { $0.id == id }
    }

    /// Where a received file is now, if it is still there.
    public func fileURL(for file: HistoryFile) -> URL? {
        guard let location = file.location else { return nil }
        let url = location.hasPrefix("/")
            ? URL(filePath: location)
            : paths.receiveDirectory.appending(path: location, directoryHint: .notDirectory)
        return FileManager.default.fileExists(atPath: url.path(percentEncoded: false)) ? url : nil
    }

    /// A saved file's path, relative to the receive directory when it is inside (Ferry reports
    /// it canonical: `/private/var/...` for `/var/...`).
    private func storedLocation(_ path: String) -> String {
        var base = paths.receiveDirectory.path(percentEncoded: false)
        if !base.hasSuffix("/") { base += "/" }
        for prefix in [base, "/private" + base] where path.hasPrefix(prefix) {
            return String(path.dropFirst(prefix.count))
        }
        return path
    }

    // MARK: Trust and history

    /// Trusts a device (quick save from trusted devices; a badge).
    public func trust(_ fingerprint: String, alias: String?) throws {
        _ = try requireNode().trust(fingerprint: fingerprint, alias: alias)
        refreshTrusted()
    }

    public func untrust(_ fingerprint: String) throws {
        _ = try requireNode().untrust(fingerprint: fingerprint)
        refreshTrusted()
    }

    /// The code to compare with the user of `fingerprint` ("1234 5678 9012 3456"); nil before
    /// the node ever ran.
    public func verificationCode(_ fingerprint: String) -> String? {
        if let node { return node.verificationCode(fingerprint: fingerprint).digits }
        guard let own = ownFingerprint else { return nil }
        return FerryCore.verificationCode(fingerprintA: own, fingerprintB: fingerprint).digits
    }

    private func refreshTrusted() {
        guard let node else { return }
        trusted = node.trustedDevices().map {
            TrustedEntry(fingerprint: $0.fingerprint, alias: $0.alias, verificationCode: node.verificationCode(fingerprint: $0.fingerprint).digits)
        }
    }

    private func record(_ entry: HistoryEntry) {
        // A failed write keeps the entry in memory; the next successful write saves it too.
        _ = try? historyStore.add(entry)
        history = historyStore.entries
    }

    public func removeHistory(_ id: String) {
        _ = try? historyStore.remove(id: id)
        history = historyStore.entries
    }

    public func clearHistory() {
        _ = try? historyStore.clear()
        history = historyStore.entries
    }

    // MARK: Events

    private func apply(_ event: Event) {
        switch event {
        case let .node(generation, nodeEvent):
            guard generation == self.generation else { return }
            switch nodeEvent {
            case let .found(device), let .updated(device): found[device.fingerprint] = device
            case let .lost(device): found[device.fingerprint] = nil
            case let .request(request): received(request)
            case let .text(sender, text): received(text, from: sender)
            case let .receive(update): apply(update)
            }
        case let .send(id, update):
            apply(update, to: id)
        case let .share(generation, share, message):
            guard generation == self.generation, share == shareCount, linkShare != nil else { return }
            switch message {
            case let .browser(request): linkShare?.asked(request)
            case let .update(update): linkShare?.apply(update)
            }
        }
    }

    private func received(_ request: IncomingRequest) {
        let sender = request.sender
        sessions[request.sessionId] = ReceiveSession(sender: sender, files: request.files)
        asked.insert(request.sessionId)
        guard settings.receiving else {
            declinedByUser.insert(request.sessionId)
            try? node?.answer(sessionId: request.sessionId, decision: .decline)
            return
        }
        requests.append(PendingRequest(
            sessionId: request.sessionId, senderAlias: sender.alias, senderModel: sender.deviceModel,
            senderKind: DeviceType(sender.deviceKind), senderFingerprint: sender.fingerprint, senderAddress: sender.address,
            verified: sender.verified, trusted: sender.trusted, verificationCode: request.verificationCode,
            files: request.files.map(RequestFile.init), totalSize: Int64(clamping: request.totalSize),
            emptyFolders: Int(request.emptyFolders), receivedAt: .now
        ))
    }

    private func received(_ text: String, from sender: Sender) {
        guard settings.receiving else { return }
        textCount += 1
        let message = ReceivedText(id: textCount, senderAlias: sender.alias, senderFingerprint: sender.fingerprint,
                                   verified: sender.verified, text: text, receivedAt: .now)
        texts.insert(message, at: 0)
        record(HistoryEntry(id: "text-\(Int64(message.receivedAt.timeIntervalSince1970 * 1000))-\(message.id)",
                            direction: .receive, peerAlias: sender.alias, peerFingerprint: sender.fingerprint, files: [],
                            bytes: Int64(text.utf8.count), outcome: .done, message: nil, date: message.receivedAt, text: text))
    }

    private func apply(_ update: ReceiveUpdate) {
        switch update {
        case let .started(sessionId, sender, files):
            sessions[sessionId] = ReceiveSession(sender: sender, files: files)
            requests.removeAll { $0.sessionId == sessionId }
            transfers.insert(Transfer(id: Self.receivePrefix + sessionId, direction: .receive, peerAlias: sender.alias,
                                      peerFingerprint: sender.fingerprint, fileNames: files.map(\.name), bytesDone: 0,
                                      bytesTotal: files.reduce(0) { $0 + Int64(clamping: $1.size) }, filesDone: 0,
                                      filesFailed: 0, state: .running, message: nil, errorKind: nil, startedAt: .now),
                             at: 0)
            if let early = earlySkips, early.sessionId == sessionId { transfers[0].filesSkipped = early.count }
            earlySkips = nil
            journal.add(transfers[0])
        case let .progress(sessionId, fileId, received, _):
            guard var session = sessions[sessionId] else { return }
            session.received[fileId] = received
            sessions[sessionId] = session
            let now = clock()
            change(Self.receivePrefix + sessionId) { t in
                t.bytesDone = session.receivedTotal
                t.reconnecting = false
                t.speed.record(t.bytesDone, at: now)
            }
        case let .fileSaved(sessionId, fileId, path):
            guard var session = sessions[sessionId] else { return }
            session.saved.insert(fileId)
            if let path { session.locations[fileId] = storedLocation(path) }
            sessions[sessionId] = session
            change(Self.receivePrefix + sessionId) { $0.filesDone = session.saved.count }
        case let .fileFailed(sessionId, fileId, message, willRetry):
            guard var session = sessions[sessionId] else { return }
            // A retried file starts again from zero, and the total goes back with it.
            session.received[fileId] = nil
            sessions[sessionId] = session
            let now = clock()
            change(Self.receivePrefix + sessionId) { t in
                t.bytesDone = session.receivedTotal
                t.speed.rebase(t.bytesDone, at: now)
                if willRetry {
                    t.reconnecting = true
                } else {
                    t.filesFailed += 1
                    t.message = message
                }
            }
        case let .fileResumed(sessionId, fileId, offset):
            guard var session = sessions[sessionId] else { return }
            session.received[fileId] = offset
            sessions[sessionId] = session
            let now = clock()
            change(Self.receivePrefix + sessionId) { t in
                t.bytesDone = session.receivedTotal
                t.resumedAt = Int64(clamping: offset)
                t.reconnecting = false
                t.speed.rebase(t.bytesDone, at: now)
            }
        case let .filesSkipped(sessionId, fileIds):
            let id = Self.receivePrefix + sessionId
            if transfers.contains(where: { $0.id == id }) {
                change(id) { $0.filesSkipped += fileIds.count }
            } else {
                earlySkips = (sessionId, (earlySkips?.sessionId == sessionId ? earlySkips?.count ?? 0 : 0) + fileIds.count)
            }
        case .foldersCreated, .declined:
            break
        case let .finished(sessionId, outcome):
            finishReceive(sessionId, outcome: outcome)
            maybeRestart()
        case let .requestClosed(sessionId):
            closeRequest(sessionId, message: nil)
            maybeRestart()
        case let .pinFailed(ip, failures, lockedSeconds):
            pinFailed(ip: ip, failures: failures, lockedSeconds: lockedSeconds)
        }
    }

    /// A wrong PIN reached this node: the warning shows the latest count, and how long PIN
    /// checks are locked.
    func pinFailed(ip: String, failures: UInt32, lockedSeconds: UInt64?, at now: Date = .now) {
        let until = lockedSeconds.map { now.addingTimeInterval(TimeInterval(min($0, Self.maxLockSeconds))) }
        // A lock still running is not forgotten by a later report without one.
        let kept = pinWarning?.lockedUntil.flatMap { $0 > now ? $0 : nil }
        let lockedUntil = [until, kept].compactMap { $0 }.max()
        pinWarning = PinWarning(address: ip, failures: Int(failures), lockedUntil: lockedUntil, date: now)
    }

    /// The end of a receive: recorded in the history first, so that a finished transfer is
    /// always in it.
    private func finishReceive(_ sessionId: String, outcome: TransferOutcome) {
        let id = Self.receivePrefix + sessionId
        journal.remove(id)
        let session = sessions.removeValue(forKey: sessionId)
        let wasAsked = asked.remove(sessionId) != nil
        let state: TransferState
        let result: HistoryOutcome
        var message: String?
        switch outcome {
        case let .finished(_, failed):
            state = .done
            result = failed > 0 ? .partial : .done
        case .cancelledBySender:
            state = .cancelled
            result = .cancelled
            message = "Cancelled by the sender"
        case .cancelledByReceiver:
            state = .cancelled
            result = .cancelled
        case .timedOut:
            state = .failed
            result = .failed
            message = "Nothing arrived for too long"
        }
        var entry: HistoryEntry?
        if let session {
            let files = session.files.filter { session.saved.contains($0.id) }.map {
                HistoryFile(name: $0.name, size: Int64(clamping: $0.size), location: session.locations[$0.id])
            }
            let current = transfers.first { $0.id == id }
            let recorded = HistoryEntry(id: id, direction: .receive, peerAlias: session.sender.alias,
                                        peerFingerprint: session.sender.fingerprint, files: files,
                                        bytes: files.reduce(0) { $0 + $1.size }, outcome: result,
                                        message: message ?? current?.message, date: .now)
            record(recorded)
            entry = recorded
        }
        change(id) { t in
            t.state = state
            if let message { t.message = message }
        }
        if let entry, state == .done, !entry.files.isEmpty {
            onFilesReceived?(entry)
            if !wasAsked, let notice = QuickSaveNotice(entry) { onQuickSave?(notice) }
        }
    }

    /// A request that was never accepted is over: declined here, withdrawn by its sender, or
    /// dropped with the node.
    private func closeRequest(_ sessionId: String, message: String?) {
        requests.removeAll { $0.sessionId == sessionId }
        asked.remove(sessionId)
        guard let session = sessions.removeValue(forKey: sessionId) else { return }
        let byUser = declinedByUser.remove(sessionId) != nil
        record(HistoryEntry(id: Self.receivePrefix + sessionId, direction: .receive, peerAlias: session.sender.alias,
                            peerFingerprint: session.sender.fingerprint,
                            files: session.files.map { HistoryFile(name: $0.name, size: Int64(clamping: $0.size), location: nil) },
                            bytes: 0, outcome: byUser ? .declined : .cancelled,
                            message: byUser ? nil : (message ?? "Withdrawn by the sender"), date: .now))
    }

    private func apply(_ update: SendUpdate, to id: String) {
        switch update {
        case let .connected(alias, fingerprint, _):
            change(id) { t in
                t.peerAlias = alias
                t.peerFingerprint = fingerprint
            }
        case .waiting:
            change(id) { $0.state = .waiting }
        case let .accepted(_, totalSize):
            change(id) { t in
                t.state = .running
                t.bytesTotal = Int64(clamping: totalSize)
            }
        case let .progress(_, _, _, totalSent, totalSize):
            let now = clock()
            change(id) { t in
                t.state = .running
                t.reconnecting = false
                t.bytesDone = Int64(clamping: totalSent)
                t.bytesTotal = Int64(clamping: totalSize)
                t.speed.record(t.bytesDone, at: now)
            }
        case .fileSent:
            change(id) { $0.filesDone += 1 }
        case let .fileResumed(_, offset, _):
            // The held bytes come with the next progress, all at once: not speed.
            change(id) { t in
                t.resumedAt = Int64(clamping: offset)
                t.reconnecting = false
                t.speed.expectJump()
            }
        case let .filesSkipped(fileIds):
            change(id) { $0.filesSkipped = fileIds.count }
        case let .fileFailed(_, message, willRetry):
            guard !willRetry else {
                // A break (Ferry reconnects) or a checksum retry: the count goes back to what is held.
                change(id) { t in
                    t.reconnecting = true
                    t.speed.expectJump()
                }
                return
            }
            change(id) { t in
                t.filesFailed += 1
                t.message = message
            }
        case let .notice(message):
            change(id) { $0.message = message }
        case let .finished(sent, skipped, bytes):
            finishSend(id) { t in
                // (Everything skipped: the receiver has it all already, or took none of it.)
                t.state = .done
                t.filesDone = Int(sent)
                t.filesSkipped = Int(skipped)
                t.bytesDone = Int64(clamping: bytes)
                t.reconnecting = false
            }
        case let .failed(error, errorKind):
            let kind = errorKindCode(kind: errorKind)
            let state: TransferState = switch kind {
            case ErrorKinds.cancelled: .cancelled
            case ErrorKinds.declined: .declined
            default: .failed
            }
            finishSend(id) { t in
                t.state = state
                t.message = error
                t.errorKind = kind
            }
        }
    }

    /// Changes a transfer while it runs: an update that comes late (parallel uploads) never
    /// undoes its end.
    private func change(_ id: String, _ body: (inout Transfer) -> Void) {
        guard let index = transfers.firstIndex(where: { $0.id == id }), !transfers[index].state.isFinished else { return }
        body(&transfers[index])
    }

    /// The end of a send: recorded in the history first, so that a finished transfer is always in it.
    private func finishSend(_ id: String, _ end: (inout Transfer) -> Void) {
        let job = sends.removeValue(forKey: id)
        journal.remove(id)
        guard let index = transfers.firstIndex(where: { $0.id == id }), !transfers[index].state.isFinished else {
            job?.resources.release()
            return
        }
        var transfer = transfers[index]
        end(&transfer)
        let outcome: HistoryOutcome = switch transfer.state {
        case .done: transfer.filesFailed > 0 || transfer.filesDone < transfer.fileNames.count ? .partial : .done
        case .cancelled: .cancelled
        case .declined: .declined
        case .failed, .waiting, .running: .failed
        }
        record(HistoryEntry(id: id, direction: .send, peerAlias: transfer.peerAlias, peerFingerprint: transfer.peerFingerprint,
                            files: job?.files ?? transfer.fileNames.map { HistoryFile(name: $0, size: 0, location: nil) },
                            bytes: transfer.bytesDone, outcome: outcome, message: transfer.message, date: .now))
        transfers[index] = transfer
        job?.resources.release()
        job?.onEnd?(transfer.state)
    }
}

// MARK: - Bookkeeping

private struct ReceiveSession {
    let sender: Sender
    let files: [OfferedFile]
    var received: [String: UInt64] = [:]
    var locations: [String: String] = [:]
    var saved: Set<String> = []

    var receivedTotal: Int64 { received.values.reduce(0) { $0 + Int64(clamping: $1) } }
}

private struct SendJob {
    let handle: TransferHandle
    let files: [HistoryFile]
    let resources: SendResources
    let onEnd: (@MainActor (TransferState) -> Void)?
}

/// The security scopes and temporary copies a send holds until it ends.
private struct SendResources {
    private var scoped: [URL] = []
    private var temporary: [URL] = []

    init(_ items: [OutgoingItem]) {
        for item in items {
            switch item {
            case .file:
                break
            case let .securityScoped(url):
                // (Security scopes exist on Apple platforms only.)
                #if canImport(Darwin)
                if url.startAccessingSecurityScopedResource() { scoped.append(url) }
                #else
                _ = url
                #endif
            case let .temporary(url):
                temporary.append(url)
            }
        }
    }

    func release() {
        #if canImport(Darwin)
        for url in scoped {
            url.stopAccessingSecurityScopedResource()
        }
        #endif
        for url in temporary {
            try? FileManager.default.removeItem(at: url)
        }
    }
}

private extension RequestFile {
    init(_ file: OfferedFile) {
        self.init(id: file.id, name: file.name, size: Int64(clamping: file.size), mimeType: file.mimeType)
    }
}

// MARK: - The listener bridge

/// What the node and the sends report, in the order they reported it.
enum Event: Sendable {
    case node(generation: Int, NodeEvent)
    case send(id: String, SendUpdate)
    case share(generation: Int, share: Int, ShareMessage)
}

enum NodeEvent: Sendable {
    case found(Device)
    case updated(Device)
    case lost(Device)
    case request(IncomingRequest)
    case text(Sender, String)
    case receive(ReceiveUpdate)
}

/// Called on Ferry's threads: only hands the event on.
final class NodeEvents: NodeListener {
    private let generation: Int
    private let sink: AsyncStream<Event>.Continuation

    init(generation: Int, sink: AsyncStream<Event>.Continuation) {
        self.generation = generation
        self.sink = sink
    }

    func onDeviceFound(device: Device) { sink.yield(.node(generation: generation, .found(device))) }
    func onDeviceUpdated(device: Device) { sink.yield(.node(generation: generation, .updated(device))) }
    func onDeviceLost(device: Device) { sink.yield(.node(generation: generation, .lost(device))) }
    func onRequest(request: IncomingRequest) { sink.yield(.node(generation: generation, .request(request))) }
    func onText(sender: Sender, text: String) { sink.yield(.node(generation: generation, .text(sender, text))) }
    func onReceive(update: ReceiveUpdate) { sink.yield(.node(generation: generation, .receive(update))) }
}

/// Called on Ferry's threads: only hands the update on.
final class SendEvents: TransferListener {
    private let id: String
    private let sink: AsyncStream<Event>.Continuation

    init(id: String, sink: AsyncStream<Event>.Continuation) {
        self.id = id
        self.sink = sink
    }

    func onUpdate(update: SendUpdate) { sink.yield(.send(id: id, update)) }
}
