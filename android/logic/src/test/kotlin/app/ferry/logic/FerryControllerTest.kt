// The logic module against the real bindings and the host library: two controllers (two real
// nodes) on 127.0.0.1 in one JVM, discovery off. Run by `make test` (scripts/test-android-logic.sh)
// and by `./gradlew :logic:test`.
package app.ferry.logic

import app.ferry.core.DeviceKind
import app.ferry.core.FerryException
import app.ferry.core.OfferedFile
import app.ferry.core.ReceiveUpdate
import app.ferry.core.SendItem
import java.io.File
import java.io.RandomAccessFile
import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.random.Random
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Before
import org.junit.Test

/** Waits (bounded) until the flow's value matches. */
suspend fun <T> StateFlow<T>.await(what: String, seconds: Long = 30, match: (T) -> Boolean): T =
    try {
        withTimeout(seconds * 1000) { first(match) }
    } catch (e: kotlinx.coroutines.TimeoutCancellationException) {
        throw AssertionError("timed out after ${seconds}s waiting for $what; last value: $value", e)
    }

/** The C library, for raw descriptors like those ParcelFileDescriptor.detachFd() gives. */
interface LibC : com.sun.jna.Library {
    fun open(path: String, flags: Int, mode: Int): Int
    fun fcntl(fd: Int, cmd: Int): Int
}
val libc: LibC = com.sun.jna.Native.load("c", LibC::class.java)
const val O_RDONLY = 0
const val O_WRONLY_CREAT_TRUNC = 1 or 64 or 512

class CountingLock : DiscoveryLock {
    val acquired = AtomicInteger()
    val released = AtomicInteger()
    override fun acquire() { acquired.incrementAndGet() }
    override fun release() { released.incrementAndGet() }
    val held get() = acquired.get() > released.get()
}

class FerryControllerTest {
    private lateinit var root: File
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    private val controllers = mutableListOf<FerryController>()

    @Before
    fun setUp() {
        root = Files.createTempDirectory("ferry-logic-").toFile()
    }

    @After
    fun tearDown() {
        controllers.forEach { it.close() }
        scope.cancel()
        root.deleteRecursively()
    }

    private fun controller(
        name: String,
        lock: DiscoveryLock = DiscoveryLock.None,
        saver: DocumentSaver? = null,
        port: Int = 0,
        clock: () -> Long = System::currentTimeMillis,
        history: HistoryStore = HistoryStore(File(root, "$name/history.tsv")),
    ): FerryController {
        val c = FerryController(File(root, name), DeviceInfo(name, "JVM test", DeviceKind.DESKTOP, File(root, "$name-inbox")), scope,
            lock, saver, NetworkOptions(discovery = false, bindAddress = "127.0.0.1", scanLingerMs = 0), clock, history)
        if (c.settings.value.port != port) c.updateSettings { it.copy(port = port) }
        controllers.add(c)
        return c
    }

    private fun running(c: FerryController): NodeState.Running {
        val s = c.start()
        assertTrue(s is NodeState.Running, "node did not start: $s")
        return s
    }

    private suspend fun FerryController.find(other: FerryController): NearbyDevice {
        val port = (other.node.value as NodeState.Running).port
        return addByAddress("127.0.0.1:$port")
    }

    private fun file(name: String, size: Int): File = File(root, "out/$name").apply {
        parentFile.mkdirs()
        writeBytes(Random(name.hashCode()).nextBytes(size))
    }

    private fun inbox(name: String) = File(root, "$name-inbox")

    private suspend fun FerryController.finished(id: String) = transfers.await("transfer $id to end") { l -> l.any { it.id == id && it.state.finished } }
        .first { it.id == id }

    private suspend fun FerryController.request(): PendingRequest = requests.await("a request") { it.isNotEmpty() }.first()

    @Test
    fun aShareOfSeveralFilesIsAskedAboutAcceptedWithProgressAndRecorded() = runBlocking {
        val rx = controller("Receiver")
        val tx = controller("Sender")
        val rxNode = running(rx)
        val txNode = running(tx)
        val a = file("a.txt", 1000)
        val big = file("big.bin", 32 shl 20)
        val viaFd = file("from-provider.jpg", 70_000)
        val fd = libc.open(viaFd.path, O_RDONLY, 0)
        assertTrue(fd >= 0)

        val device = tx.find(rx)
        assertEquals("Receiver", device.alias)
        assertTrue(device.verified && device.online)
        val progress = CopyOnWriteArrayList<Long>()
        val watcher = launch(Dispatchers.Default) { tx.transfers.collect { l -> l.firstOrNull()?.let { progress.add(it.bytesDone) } } }

        val id = tx.send(device, listOf(SendItem.Path(a.path), SendItem.Path(big.path), SendItem.Fd(fd, "photo.jpg", null, "image/jpeg")))
        val req = rx.request()
        assertEquals("Sender", req.senderAlias)
        assertEquals(txNode.fingerprint, req.senderFingerprint)
        assertTrue(req.verified && !req.trusted)
        assertEquals(rx.verificationCode(txNode.fingerprint), req.verificationCode)
        assertEquals(tx.verificationCode(rxNode.fingerprint), req.verificationCode, "both users see the same code")
        assertEquals(listOf("a.txt", "big.bin", "photo.jpg"), req.files.map { it.name }.sorted())
        assertEquals(1000L + (32 shl 20) + 70_000, req.totalSize)
        assertEquals(0, req.emptyFolders)
        assertEquals(TransferState.WAITING, tx.transfers.value.first { it.id == id }.state)

        rx.accept(req.sessionId)
        val sent = tx.finished(id)
        assertEquals(TransferState.DONE, sent.state, "$sent")
        assertEquals(3, sent.filesDone)
        assertEquals(req.totalSize, sent.bytesDone)
        val got = rx.transfers.await("receive to end") { l -> l.any { it.direction == Direction.RECEIVE && it.state.finished } }.first()
        assertEquals(TransferState.DONE, got.state)
        assertEquals(req.totalSize, got.bytesDone)
        assertTrue(rx.requests.value.isEmpty())
        watcher.cancel()

        assertContentEquals(a.readBytes(), File(inbox("Receiver"), "a.txt").readBytes())
        assertContentEquals(big.readBytes(), File(inbox("Receiver"), "big.bin").readBytes())
        assertContentEquals(viaFd.readBytes(), File(inbox("Receiver"), "photo.jpg").readBytes())
        assertEquals(-1, libc.fcntl(fd, 1 /* F_GETFD */), "Ferry closed the descriptor it was given")

        // Progress reached the flow, in order, up to the whole size, with steps in between.
        assertEquals(progress.sorted(), progress.toList(), "progress never goes back")
        assertEquals(req.totalSize, progress.last())
        assertTrue(progress.any { it > 0 && it < req.totalSize }, "an intermediate step was seen: $progress")

        val received = rx.history.await("receive history") { it.isNotEmpty() }.first()
        assertEquals(Direction.RECEIVE, received.direction)
        assertEquals(HistoryOutcome.DONE, received.outcome)
        assertEquals("Sender", received.peerAlias)
        assertEquals(listOf("a.txt", "big.bin", "photo.jpg"), received.files.map { it.name }.sorted())
        received.files.forEach { f -> assertTrue(File(assertNotNull(f.location)).isFile, "${f.location} exists") }
        val sentEntry = tx.history.await("send history") { it.isNotEmpty() }.first()
        assertEquals(Direction.SEND, sentEntry.direction)
        assertEquals(HistoryOutcome.DONE, sentEntry.outcome)
        assertEquals(listOf("a.txt", "big.bin", "photo.jpg"), sentEntry.files.map { it.name })
    }

    @Test
    fun someFilesAcceptedThenADecline() = runBlocking {
        val rx = controller("Receiver")
        val tx = controller("Sender")
        running(rx); running(tx)
        val files = listOf(file("one.txt", 10), file("two.txt", 20), file("three.txt", 30))
        val device = tx.find(rx)

        val id = tx.send(device, files.map { SendItem.Path(it.path) })
        val req = rx.request()
        val two = req.files.first { it.name == "two.txt" }
        rx.accept(req.sessionId, setOf(two.id))
        val sent = tx.finished(id)
        assertEquals(TransferState.DONE, sent.state)
        assertEquals(1, sent.filesDone)
        assertEquals(2, sent.filesSkipped, "the files left out are skipped, not failed")
        assertEquals(listOf("two.txt"), inbox("Receiver").list()!!.filter { !it.startsWith(".") }.sorted())
        assertEquals(HistoryOutcome.PARTIAL, tx.history.await("history") { it.isNotEmpty() }.first().outcome)
        rx.transfers.await("receive done") { l -> l.any { it.state == TransferState.DONE } }

        val id2 = tx.send(device, files.map { SendItem.Path(it.path) })
        val req2 = rx.request()
        rx.decline(req2.sessionId)
        val declined = tx.finished(id2)
        assertEquals(TransferState.DECLINED, declined.state, "$declined")
        assertEquals("declined", declined.errorKind)
        val entry = rx.history.await("declined in history") { l -> l.any { it.outcome == HistoryOutcome.DECLINED } }.first()
        assertEquals(3, entry.files.size)
        assertTrue(rx.requests.value.isEmpty())
        // Recorded right after it ends (the transfer ends first): waited for, bounded.
        tx.history.await("the declined send in the history") { h -> h.firstOrNull()?.outcome == HistoryOutcome.DECLINED }
        Unit
    }

    @Test
    fun cancelledBySenderAndByReceiverLeavesNoFile() = runBlocking {
        val rx = controller("Receiver")
        val tx = controller("Sender")
        running(rx); running(tx)
        rx.updateSettings { it.copy(quickSave = QuickSave.EVERYONE) }
        val big = File(root, "out/huge.bin").apply { parentFile.mkdirs(); RandomAccessFile(this, "rw").use { it.setLength(1L shl 30) } }
        val device = tx.find(rx)

        val id = tx.send(device, listOf(SendItem.Path(big.path)))
        tx.transfers.await("bytes moving") { l -> l.any { it.id == id && it.bytesDone > 0 } }
        tx.cancel(id)
        val cancelled = tx.finished(id)
        assertEquals(TransferState.CANCELLED, cancelled.state, "$cancelled")
        assertTrue(cancelled.bytesDone < big.length())
        val got = rx.transfers.await("receiver sees the cancel") { l -> l.any { it.direction == Direction.RECEIVE && it.state.finished } }.first()
        assertEquals(TransferState.CANCELLED, got.state, "$got")
        assertFalse(File(inbox("Receiver"), "huge.bin").exists(), "no partial file under the real name")
        assertEquals(HistoryOutcome.CANCELLED, rx.history.await("rx history") { it.isNotEmpty() }.first().outcome)
        assertEquals(HistoryOutcome.CANCELLED, tx.history.await("tx history") { it.isNotEmpty() }.first().outcome)

        rx.dismissFinished()
        assertTrue(rx.transfers.value.isEmpty())
        val id2 = tx.send(device, listOf(SendItem.Path(big.path)))
        val receiving = rx.transfers.await("receiving") { l -> l.any { it.direction == Direction.RECEIVE && it.bytesDone > 0 } }.first()
        rx.cancel(receiving.id)
        assertEquals(TransferState.CANCELLED, rx.transfers.await("rx end") { l -> l.any { it.id == receiving.id && it.state.finished } }
            .first { it.id == receiving.id }.state)
        val failed = tx.finished(id2)
        assertTrue(failed.state == TransferState.CANCELLED || failed.state == TransferState.FAILED, "$failed")
        assertFalse(File(inbox("Receiver"), "huge.bin").exists())
    }

    @Test
    fun settingsPersistAndApplyToTheNode() = runBlocking {
        val rx = controller("Receiver")
        assertEquals("Receiver", rx.settings.value.alias)
        assertEquals(QuickSave.OFF, rx.settings.value.quickSave)
        running(rx)
        rx.updateSettings { it.copy(alias = "Kitchen tablet", pin = "4711", quickSave = QuickSave.EVERYONE,
            destination = Destination.Folder("content://tree/primary%3AFerry", "Ferry"), deviceKind = DeviceKind.MOBILE) }
        assertFailsWith<IllegalArgumentException> { rx.updateSettings { it.copy(alias = " ") } }
        assertFailsWith<IllegalArgumentException> { rx.updateSettings { it.copy(port = 80) } }
        assertEquals("Kitchen tablet", rx.settings.value.alias)
        rx.close()
        controllers.remove(rx)

        val again = controller("Receiver")
        val s = again.settings.value
        assertEquals("Kitchen tablet", s.alias)
        assertEquals("4711", s.pin)
        assertEquals(QuickSave.EVERYONE, s.quickSave)
        assertEquals(DeviceKind.MOBILE, s.deviceKind)
        assertEquals(Destination.Folder("content://tree/primary%3AFerry", "Ferry"), s.destination)
        again.updateSettings { it.copy(destination = Destination.Directory(inbox("Receiver").path)) }
        running(again)

        val tx = controller("Sender")
        running(tx)
        val device = tx.find(again)
        assertEquals("Kitchen tablet", device.alias)
        assertEquals(DeviceKind.MOBILE, device.kind)
        val f = file("pinned.txt", 100)
        val noPin = tx.finished(tx.send(device, listOf(SendItem.Path(f.path))))
        assertEquals("pin_required", noPin.errorKind, "$noPin")
        val withPin = tx.finished(tx.send(device, listOf(SendItem.Path(f.path)), pin = "4711"))
        assertEquals(TransferState.DONE, withPin.state, "quick save from everyone: no request: $withPin")
        assertTrue(File(inbox("Receiver"), "pinned.txt").isFile)
    }

    @Test
    fun receivingOffDeclinesEveryRequestEvenWithQuickSaveFromEveryone() = runBlocking {
        val rx = controller("Receiver")
        val tx = controller("Sender")
        running(rx); running(tx)
        rx.updateSettings { it.copy(quickSave = QuickSave.EVERYONE) }
        val f = file("quick.txt", 10)
        // Receiving on: quick save saves without asking.
        assertEquals(TransferState.DONE, tx.finished(tx.send(tx.find(rx), listOf(SendItem.Path(f.path)))).state)
        assertTrue(File(inbox("Receiver"), "quick.txt").exists())
        // A settings change while the receive still ends would restart the node later, when idle.
        rx.transfers.await("the receive to end") { l -> l.none { it.direction == Direction.RECEIVE && !it.state.finished } }

        // Receiving off while the app keeps the node running (the app is open): declined, nothing written.
        rx.updateSettings { it.copy(receiving = false) }
        running(rx)
        val before = inbox("Receiver").list()!!.sorted()
        val other = file("unwanted.txt", 10)
        val id = tx.send(tx.find(rx), listOf(SendItem.Path(other.path)))
        assertEquals(TransferState.DECLINED, tx.finished(id).state)
        assertEquals(before, inbox("Receiver").list()!!.sorted(), "nothing new in the receive folder")
        assertTrue(rx.requests.value.isEmpty(), "never shown as a request")
        assertTrue(rx.transfers.value.none { it.direction == Direction.RECEIVE && !it.state.finished })
        assertEquals(HistoryOutcome.DECLINED, rx.history.await("declined in the history") { l -> l.any { it.outcome == HistoryOutcome.DECLINED } }
            .first { it.outcome == HistoryOutcome.DECLINED }.outcome)

        // A request waiting for an answer when receiving goes off is declined then.
        rx.updateSettings { it.copy(receiving = true, quickSave = QuickSave.OFF) }
        running(rx)
        val id2 = tx.send(tx.find(rx), listOf(SendItem.Path(other.path)))
        rx.request()
        rx.updateSettings { it.copy(receiving = false) }
        assertEquals(TransferState.DECLINED, tx.finished(id2).state)
        assertTrue(rx.requests.value.isEmpty())
        assertFalse(File(inbox("Receiver"), "unwanted.txt").exists())
    }

    @Test
    fun quickSaveFromTrustedDevicesAndTheTrustedList() = runBlocking {
        val rx = controller("Receiver")
        val tx = controller("Sender")
        running(rx)
        val txNode = running(tx)
        rx.updateSettings { it.copy(quickSave = QuickSave.TRUSTED) }
        rx.trust(txNode.fingerprint, "Sender")
        val entry = rx.trusted.value.single()
        assertEquals(txNode.fingerprint, entry.fingerprint)
        assertEquals(rx.verificationCode(txNode.fingerprint), entry.verificationCode)
        val device = tx.find(rx)
        val f = file("auto.txt", 10)
        assertEquals(TransferState.DONE, tx.finished(tx.send(device, listOf(SendItem.Path(f.path)))).state)
        assertTrue(rx.requests.value.isEmpty())
        // The receiving side ends a moment after the sender: a settings change while it still
        // receives would restart the node later (when idle), under the next send's feet.
        rx.transfers.await("the receive to end") { l -> l.none { it.direction == Direction.RECEIVE && !it.state.finished } }

        // Quick save off: trusted devices are asked too.
        rx.updateSettings { it.copy(quickSave = QuickSave.OFF) }
        val device2 = tx.find(rx)
        val id = tx.send(device2, listOf(SendItem.Path(f.path)))
        val req = rx.request()
        assertTrue(req.trusted)
        rx.accept(req.sessionId)
        assertEquals(TransferState.DONE, tx.finished(id).state)

        rx.untrust(txNode.fingerprint)
        assertTrue(rx.trusted.value.isEmpty())
    }

    @Test
    fun textsAndARequestWithdrawnBySender() = runBlocking {
        val rx = controller("Receiver")
        val tx = controller("Sender")
        running(rx); running(tx)
        val device = tx.find(rx)
        assertTrue(tx.sendText(device, "hello from the JVM"))
        val t = rx.texts.await("a text") { it.isNotEmpty() }.first()
        assertEquals("hello from the JVM", t.text)
        assertEquals("Sender", t.senderAlias)
        assertTrue(t.verified)
        // Node events reach the controller on Ferry's event thread, after the text was answered.
        assertEquals("hello from the JVM", rx.history.await("the text in the history") { it.isNotEmpty() }.first().text)
        assertEquals("hello from the JVM", tx.history.value.first().text)
        rx.dismissText(t.id)
        assertTrue(rx.texts.value.isEmpty())

        val id = tx.send(device, listOf(SendItem.Path(file("w.txt", 5).path)))
        rx.request()
        tx.cancel(id)
        rx.requests.await("the request to close") { it.isEmpty() }
        val entry = rx.history.await("withdrawn in history") { l -> l.any { it.outcome == HistoryOutcome.CANCELLED } }.first()
        assertEquals(listOf("w.txt"), entry.files.map { it.name })
        val withdrawn = tx.finished(id)
        assertEquals(TransferState.CANCELLED, withdrawn.state, "$withdrawn")
    }

    @Test
    fun favoritesAndTheDiscoveryLock() = runBlocking {
        val port = java.net.ServerSocket(0).use { it.localPort }.let { if (it < 1024) 53999 else it }
        val rx = controller("Receiver", port = port)
        val lock = CountingLock()
        val tx = controller("Sender", lock = lock)
        running(rx); running(tx)

        val d = tx.addByAddress("127.0.0.1:$port", favorite = true)
        assertTrue(d.favorite && d.online)
        assertEquals(listOf(Favorite(d.fingerprint, "Receiver", "127.0.0.1:$port", DeviceKind.DESKTOP)), tx.settings.value.favorites)

        // A device that cannot be reached fails before anything starts, and the descriptor
        // handed over is closed all the same.
        val fd = libc.open(file("x.txt", 3).path, O_RDONLY, 0)
        val nowhere = d.copy(fingerprint = "AB".repeat(32), address = null, online = false)
        assertFailsWith<IllegalArgumentException> { tx.send(nowhere, listOf(SendItem.Fd(fd, "x.txt", null, null))) }
        assertEquals(-1, libc.fcntl(fd, 1 /* F_GETFD */))
        assertTrue(tx.transfers.value.isEmpty())

        // The lock is held while the list is shown, and only then.
        assertFalse(lock.held)
        val hold = tx.holdDiscovery()
        assertTrue(lock.held)
        assertTrue(tx.discovering.value)
        runCatching { tx.rescan() }
        hold.close()
        hold.close()
        tx.discovering.await("discovery over", 10) { !it }
        assertFalse(lock.held, "released: ${lock.acquired} / ${lock.released}")
        runCatching { tx.rescan() }
        tx.discovering.await("discovery over", 10) { !it }
        assertEquals(lock.acquired.get(), lock.released.get())

        // After a restart the favorite is listed offline, then found at its address.
        tx.close(); controllers.remove(tx)
        rx.stop()
        val again = controller("Sender")
        running(again)
        val offline = again.devices.await("favorite listed") { l -> l.any { it.fingerprint == d.fingerprint } }.first()
        assertTrue(offline.favorite)
        assertEquals(DeviceKind.DESKTOP, offline.kind)
        running(rx)
        again.stop(); running(again)
        again.devices.await("favorite online") { l -> l.any { it.fingerprint == d.fingerprint && it.online } }
        again.setFavorite(d.fingerprint, false)
        assertTrue(again.settings.value.favorites.isEmpty())
    }

    @Test
    fun aFavoriteIsProbedPinnedSoPlainHttpProvesNothing() = runBlocking {
        // A receiver with encryption off: over plain HTTP anyone could claim its fingerprint.
        val plain = controller("Plain")
        plain.updateSettings { it.copy(encryption = false) }
        val p = running(plain)
        val other = controller("Other")
        val o = running(other)
        val tx = controller("Sender")
        running(tx)
        // Favorites are probed one after the other: once Other (HTTPS) is online, Plain's probe
        // is over. Pinned to its fingerprint, it refuses plain HTTP, so Plain stays offline (an
        // unpinned probe listed it, on the word of whoever answered).
        tx.updateSettings { s ->
            s.copy(favorites = listOf(Favorite(p.fingerprint, "Plain", "127.0.0.1:${p.port}", DeviceKind.DESKTOP),
                Favorite(o.fingerprint, "Other", "127.0.0.1:${o.port}", DeviceKind.DESKTOP)))
        }
        tx.stop(); running(tx)
        val l = tx.devices.await("Other online") { l -> l.any { it.fingerprint == o.fingerprint && it.online && it.verified } }
        assertFalse(l.first { it.fingerprint == p.fingerprint }.online, "$l")
    }

    @Test
    fun filesGoThroughTheAppsDocumentSaver() = runBlocking {
        val docs = File(root, "documents").apply { mkdirs() }
        val published = CopyOnWriteArrayList<String>()
        val discarded = CopyOnWriteArrayList<String>()
        val saver = DocumentSaver { _, _, file: OfferedFile ->
            val pending = File(docs, ".pending-" + file.name.replace('/', '_'))
            val fd = libc.open(pending.path, O_WRONLY_CREAT_TRUNC, 0x1a4)
            check(fd >= 0) { "cannot create $pending" }
            val final = File(docs, file.name.replace('/', '_'))
            object : SavedDocument {
                override val fd = fd
                override val location = "doc:" + final.path
                override fun publish() { check(pending.renameTo(final)); published.add(final.name) }
                override fun discard() { pending.delete(); discarded.add(file.name) }
            }
        }
        val rx = controller("Receiver", saver = saver)
        val tx = controller("Sender")
        assertEquals(Destination.Downloads, rx.settings.value.destination)
        rx.updateSettings { it.copy(quickSave = QuickSave.EVERYONE) }
        running(rx); running(tx)
        val one = file("one.pdf", 5000)
        val two = file("two.mp4", 3 shl 20)
        val id = tx.send(tx.find(rx), listOf(SendItem.Path(one.path), SendItem.Path(two.path)))
        assertEquals(TransferState.DONE, tx.finished(id).state)
        val entry = rx.history.await("history") { it.isNotEmpty() }.first()
        assertEquals(setOf("doc:" + File(docs, "one.pdf").path, "doc:" + File(docs, "two.mp4").path), entry.files.map { it.location }.toSet())
        assertEquals(setOf("one.pdf", "two.mp4"), published.toSet())
        assertContentEquals(two.readBytes(), File(docs, "two.mp4").readBytes())
        assertNull(inbox("Receiver").list()?.firstOrNull { !it.startsWith(".") }, "nothing stored twice")
        assertTrue(discarded.isEmpty())
    }

    @Test
    fun aWrongPinIsShownOnTheReceiverUntilDismissed() = runBlocking {
        val rx = controller("Receiver")
        val tx = controller("Sender")
        rx.updateSettings { it.copy(pin = "4711") }
        running(rx); running(tx)
        assertNull(rx.pinWarning.value)
        val f = file("guess.txt", 10)
        val device = tx.find(rx)

        val wrong = tx.finished(tx.send(device, listOf(SendItem.Path(f.path)), pin = "1234"))
        assertEquals(ErrorKinds.INVALID_PIN, wrong.errorKind, "$wrong")
        val w = assertNotNull(rx.pinWarning.await("the receiver's PIN warning") { it != null })
        assertEquals("127.0.0.1", w.address)
        assertEquals("127.0.0.1", w.shownAddress)
        assertEquals(1, w.failures)
        assertNull(w.lockedUntilMs, "one wrong PIN locks nothing")
        assertFalse(w.locked(System.currentTimeMillis()))
        assertTrue(rx.requests.value.isEmpty(), "a wrong PIN is never asked about")
        assertFalse(File(inbox("Receiver"), "guess.txt").exists())
        assertNull(tx.pinWarning.value, "the sender is not warned about its own guess")

        rx.dismissPinWarning()
        assertNull(rx.pinWarning.value)
        // The right PIN warns of nothing.
        val id = tx.send(device, listOf(SendItem.Path(f.path)), pin = "4711")
        rx.accept(rx.request().sessionId)
        assertEquals(TransferState.DONE, tx.finished(id).state)
        assertNull(rx.pinWarning.value)
    }

    @Test
    fun aPinLockIsShownUntilItEndsAndTheAddressIsMadeSafe() {
        val now = AtomicLong(1_000_000)
        val c = controller("Receiver", clock = { now.get() })
        c.onPinFailed(ReceiveUpdate.PinFailed("10.0.0.7", 6u, 4uL))
        val locked = assertNotNull(c.pinWarning.value)
        assertEquals(6, locked.failures)
        assertEquals(1_004_000L, locked.lockedUntilMs)
        assertTrue(locked.locked(now.get()))
        assertFalse(locked.locked(1_004_000))

        // A later report without a lock (a trusted device's wrong PIN) keeps the running lock.
        now.set(1_002_000)
        c.onPinFailed(ReceiveUpdate.PinFailed("10.0.0.8", 7u, null))
        assertEquals(PinWarning("10.0.0.8", 7, 1_004_000, 1_002_000), c.pinWarning.value)
        // Once it is over it is not shown any more.
        now.set(1_005_000)
        c.onPinFailed(ReceiveUpdate.PinFailed("1.2.3.4\u202e\n", 8u, null))
        val after = assertNotNull(c.pinWarning.value)
        assertNull(after.lockedUntilMs)
        assertEquals("1.2.3.4\\u{202e}\\n", after.shownAddress)
        // A lock longer than any clock can add stays a number in the future.
        c.onPinFailed(ReceiveUpdate.PinFailed("10.0.0.9", 9u, ULong.MAX_VALUE))
        assertTrue(assertNotNull(c.pinWarning.value?.lockedUntilMs) > now.get())
        c.dismissPinWarning()
        assertNull(c.pinWarning.value)
    }

    @Test
    fun aFolderWithAnEmptyFolderInsideIsAskedAboutWithItsFolderCount() = runBlocking {
        val rx = controller("Receiver")
        val tx = controller("Sender")
        running(rx); running(tx)
        val album = File(root, "out/Album").apply { mkdirs() }
        assertTrue(File(album, "empty").mkdir())
        val photo = File(album, "photo.jpg").apply { writeBytes(Random(7).nextBytes(500)) }

        val id = tx.send(tx.find(rx), listOf(SendItem.Path(album.path)))
        val req = rx.request()
        assertEquals(listOf("Album/photo.jpg"), req.files.map { it.name })
        assertEquals(1, req.emptyFolders)
        assertEquals(500L, req.totalSize)
        rx.accept(req.sessionId)
        assertEquals(TransferState.DONE, tx.finished(id).state)
        rx.transfers.await("receive to end") { l -> l.any { it.direction == Direction.RECEIVE && it.state.finished } }
        assertContentEquals(photo.readBytes(), File(inbox("Receiver"), "Album/photo.jpg").readBytes())
        assertTrue(File(inbox("Receiver"), "Album/empty").isDirectory, "the empty folder was made")
    }

    @Test
    fun historyKeepsAnyNameAndSurvivesDamage() {
        val f = File(root, "h/history.tsv")
        val store = HistoryStore(f, limit = 3)
        val odd = HistoryEntry("x", Direction.RECEIVE, "Tab\tand\nnewline;,=", null,
            listOf(HistoryFile("a,b;c\td.txt", 5, "content://x/y?z=1&w=%20")), 5, HistoryOutcome.DONE, null, 1, null)
        store.add(odd)
        f.appendText("garbage line\n")
        assertEquals(listOf(odd), HistoryStore(f, 3).all())
        repeat(5) { i -> store.add(odd.copy(id = "e$i", atMs = i.toLong())) }
        assertEquals(listOf("e4", "e3", "e2"), HistoryStore(f, 3).all().map { it.id })
        assertEquals(listOf("e4", "e2"), store.remove("e3").map { it.id })
        assertEquals(listOf("e4", "e2"), HistoryStore(f, 3).all().map { it.id })
    }

    /** A history whose writes fail with an error, as URLEncoder.encode(String, Charset) did below Android 13. */
    private class BrokenHistory(file: File) : HistoryStore(file) {
        override fun add(e: HistoryEntry): List<HistoryEntry> = throw NoSuchMethodError("java.net.URLEncoder.encode(String, Charset)")
    }

    @Test
    fun anErrorWhileRecordingNeverLeavesATransferRunning() = runBlocking {
        val rx = controller("Receiver", history = BrokenHistory(File(root, "rx-history.tsv")))
        val tx = controller("Sender", history = BrokenHistory(File(root, "tx-history.tsv")))
        running(rx); running(tx)
        rx.updateSettings { it.copy(quickSave = QuickSave.EVERYONE) }
        val a = file("a.txt", 5000)

        val id = tx.send(tx.find(rx), listOf(SendItem.Path(a.path)))
        assertEquals(TransferState.DONE, tx.finished(id).state, "the send ends although its history entry could not be written")
        val got = rx.transfers.await("the receive to end") { l -> l.any { it.direction == Direction.RECEIVE && it.state.finished } }.first()
        assertEquals(TransferState.DONE, got.state, "$got")
        assertContentEquals(a.readBytes(), File(inbox("Receiver"), "a.txt").readBytes())
        for (c in listOf(tx, rx)) {
            val p = c.problems.await("the failure kept") { it.isNotEmpty() }.first()
            assertTrue("NoSuchMethodError" in p.message && "history" in p.what, "$p")
        }
        assertTrue(tx.history.value.isEmpty())

        // A text: shown, and sendText tells so although the history could not record it.
        assertTrue(tx.sendText(tx.find(rx), "hello"))
        rx.texts.await("the text") { l -> l.any { it.text == "hello" } }
        // The nodes are still fine: a second transfer goes through.
        val id2 = tx.send(tx.find(rx), listOf(SendItem.Path(file("b.txt", 10).path)))
        assertEquals(TransferState.DONE, tx.finished(id2).state)
    }

    @Test
    fun anErrorFromTheDocumentSaverRefusesTheFileAndTheTransferEnds() = runBlocking {
        val saver = DocumentSaver { _, _, _ -> throw NoSuchMethodError("android.provider.MediaStore.something") }
        val rx = controller("Receiver", saver = saver)
        val tx = controller("Sender")
        running(rx); running(tx)
        rx.updateSettings { it.copy(quickSave = QuickSave.EVERYONE, destination = Destination.Downloads) }
        val id = tx.send(tx.find(rx), listOf(SendItem.Path(file("a.txt", 100).path)))
        val sent = tx.finished(id)
        assertEquals(0, sent.filesDone, "$sent")
        val got = rx.transfers.await("the receive to end") { l -> l.any { it.direction == Direction.RECEIVE && it.state.finished } }.first()
        assertEquals(0, got.filesDone, "$got")
        assertTrue(rx.problems.value.any { "NoSuchMethodError" in it.message }, "${rx.problems.value}")
    }

    @Test
    fun historyWrittenByEarlierVersionsStillReads() {
        // A line as the Charset overload of URLEncoder wrote it: the charset-name overload reads and writes the same.
        val f = File(root, "old/history.tsv").apply { parentFile.mkdirs() }
        f.writeText("1\t=id+1\tSEND\t=Caf%C3%A9+%E2%9C%93\t-\t=a%2Cb.txt;5;-\t5\tDONE\t-\t7\t-\n")
        val e = HistoryStore(f).all().single()
        assertEquals("id 1", e.id)
        assertEquals("Café ✓", e.peerAlias)
        assertEquals(listOf(HistoryFile("a,b.txt", 5, null)), e.files)
        HistoryStore(f).add(e.copy(id = "id 2"))
        assertEquals(f.readLines()[0].replace("id+1", "id+2"), f.readLines()[1])
    }
}
