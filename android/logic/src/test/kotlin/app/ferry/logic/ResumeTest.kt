// Resume, skip and quick save through the controller, against real nodes on 127.0.0.1: a send
// broken in the middle by a TCP relay (as a Wi-Fi drop breaks it) that the controller's retryNow
// resumes; a receiver that skips what it has; files saved without asking.
package app.ferry.logic

import app.ferry.core.DeviceKind
import app.ferry.core.SendItem
import java.io.File
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong
import kotlin.random.Random
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test

/**
 * A TCP relay on 127.0.0.1 to [target]. It counts the bytes the sender's side sends through it;
 * once [cutAt] bytes went through, the connection carrying them is cut on the sender's side only
 * (the receiver's side stays open and silent, as when a Wi-Fi network drops), and every new
 * connection is closed at once while [refuse] is set.
 */
class Relay(private val target: InetSocketAddress, private val cutAt: Long) : AutoCloseable {
    private val server = ServerSocket(0, 50, InetAddress.getLoopbackAddress())
    val port: Int get() = server.localPort
    val refuse = AtomicBoolean(false)
    val cut = AtomicBoolean(false)
    private val forwarded = AtomicLong()
    private val sockets = CopyOnWriteArrayList<Socket>()

    init {
        Thread({
            while (!server.isClosed) {
                val client = runCatching { server.accept() }.getOrNull() ?: break
                sockets.add(client)
                if (refuse.get()) {
                    client.close()
                    continue
                }
                val upstream = Socket()
                runCatching { upstream.connect(target, 5_000) }.onFailure { client.close(); upstream.close() }.getOrNull() ?: continue
                sockets.add(upstream)
                pump(client, upstream, counted = true)
                pump(upstream, client, counted = false)
            }
        }, "relay-accept").apply { isDaemon = true }.start()
    }

    private fun pump(from: Socket, to: Socket, counted: Boolean) {
        Thread({
            val buf = ByteArray(16 * 1024)
            try {
                val input = from.getInputStream()
                val output = to.getOutputStream()
                while (true) {
                    val n = input.read(buf)
                    if (n < 0) break
                    if (counted && !cut.get() && forwarded.addAndGet(n.toLong()) > cutAt && cut.compareAndSet(false, true)) {
                        // The drop: the sender's side goes, the receiver's stays open and hears nothing more.
                        refuse.set(true)
                        from.close()
                        return@Thread
                    }
                    output.write(buf, 0, n)
                }
            } catch (_: java.io.IOException) {
            }
            // A side that ended ends the other (not the receiver's side of the cut connection).
            runCatching { to.shutdownOutput() }
        }, "relay-pump").apply { isDaemon = true }.start()
    }

    override fun close() {
        server.close()
        sockets.forEach { runCatching { it.close() } }
    }
}

class ResumeTest {
    private lateinit var root: File
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    private val controllers = mutableListOf<FerryController>()

    @Before
    fun setUp() {
        root = Files.createTempDirectory("ferry-resume-").toFile()
    }

    @After
    fun tearDown() {
        controllers.forEach { it.close() }
        scope.cancel()
        root.deleteRecursively()
    }

    private fun controller(name: String, clock: () -> Long = System::currentTimeMillis, change: (Settings) -> Settings = { it }): FerryController {
        val c = FerryController(File(root, name), DeviceInfo(name, "JVM test", DeviceKind.DESKTOP, File(root, "$name-inbox")), scope,
            network = NetworkOptions(discovery = false, bindAddress = "127.0.0.1", scanLingerMs = 0), clock = clock)
        c.updateSettings { change(it.copy(port = 0)) }
        controllers.add(c)
        val s = c.start()
        assertTrue(s is NodeState.Running, "node did not start: $s")
        return c
    }

    private fun FerryController.port() = (node.value as NodeState.Running).port
    private fun FerryController.fingerprint() = (node.value as NodeState.Running).fingerprint

    private fun file(name: String, size: Int): File = File(root, "out/$name").apply {
        parentFile.mkdirs()
        writeBytes(Random(name.hashCode()).nextBytes(size))
    }

    private suspend fun FerryController.finished(id: String) =
        transfers.await("transfer $id to end", 90) { l -> l.any { it.id == id && it.state.finished } }.first { it.id == id }

    @Test
    fun aSendBrokenInTheMiddleResumesWhenAskedToRetryNow() = runBlocking {
        val rx = controller("Receiver") { it.copy(quickSave = QuickSave.EVERYONE) }
        val tx = controller("Sender")
        val big = file("big.bin", 24 shl 20)
        Relay(InetSocketAddress(InetAddress.getLoopbackAddress(), rx.port()), cutAt = 8L shl 20).use { relay ->
            // Reached through the relay, pinned to the receiver's certificate (as a favorite is).
            val via = NearbyDevice(rx.fingerprint(), "Receiver", DeviceKind.DESKTOP, null, "127.0.0.1:${relay.port}", verified = true,
                encryption = true, favorite = true, online = false)
            assertEquals(0, tx.retryNow(), "nothing waits to reconnect")
            val seen = CopyOnWriteArrayList<Transfer>()
            val watcher = launch(Dispatchers.Default) { tx.transfers.collect { l -> l.firstOrNull()?.let { seen.add(it) } } }
            val id = tx.send(via, listOf(SendItem.Path(big.path)))

            val broken = tx.transfers.await("the send to wait to reconnect", 60) { l -> l.any { it.id == id && it.retrying } }.first()
            assertTrue(relay.cut.get())
            assertEquals(TransferState.RUNNING, broken.state)
            assertTrue(broken.bytesDone in 1 until big.length(), "broken in the middle: ${broken.bytesDone}")
            assertEquals("Reconnecting…", TransferText.notes(broken) { "$it" })
            // The network is back: the send tries at once.
            relay.refuse.set(false)
            assertEquals(1, tx.retryNow())
            val done = tx.finished(id)
            watcher.cancel()
            assertEquals(TransferState.DONE, done.state, "$done")
            assertFalse(done.retrying)
            val at = assertNotNull(done.resumedAtBytes, "the resume was shown")
            assertTrue(at in (1L shl 20) until big.length(), "resumed in the middle, at $at")
            assertEquals("Resumed at $at", TransferText.notes(done) { "$it" })
            assertTrue(seen.any { it.resumedAtBytes != null && !it.state.finished }, "shown while it ran")
            assertContentEquals(big.readBytes(), File(root, "Receiver-inbox/big.bin").readBytes())
            // The receiver continued the same file and says so; nothing was asked (quick save).
            val got = rx.transfers.await("receive to end", 60) { l -> l.any { it.state.finished } }.first()
            assertEquals(TransferState.DONE, got.state, "$got")
            assertNotNull(got.resumedAtBytes)
            assertTrue(got.savedWithoutAsking)
            val entry = rx.history.await("the receive recorded") { h -> h.any { it.id == got.id } }.first { it.id == got.id }
            assertEquals("Saved 1 file from Sender", QuickSaveNotice.of(got, entry)?.title)
            Unit
        }
    }

    /**
     * The speed and time left reach the model as bytes move (a clock that moves a second a
     * reading: loopback is too fast to see otherwise; two progress updates are enough).
     */
    @Test
    fun speedAndTimeLeftShowWhileBytesMove(): Unit = runBlocking {
        val rx = controller("Receiver") { it.copy(quickSave = QuickSave.EVERYONE) }
        val now = AtomicLong(1_000_000)
        val tx = controller("Sender", clock = { now.addAndGet(1_000) })
        val big = file("big.bin", 32 shl 20)
        val seen = CopyOnWriteArrayList<Transfer>()
        val watcher = launch(Dispatchers.Default) { tx.transfers.collect { l -> l.firstOrNull()?.let { seen.add(it) } } }
        val id = tx.send(tx.addByAddress("127.0.0.1:${rx.port()}"), listOf(SendItem.Path(big.path)))
        val done = tx.finished(id)
        watcher.cancel()
        assertEquals(TransferState.DONE, done.state)
        val measured = seen.filter { it.state == TransferState.RUNNING && it.bytesPerSecond != null }
        assertTrue(measured.isNotEmpty(), "a speed was shown: ${seen.size} states")
        assertTrue(measured.all { it.bytesPerSecond!! > 0 }, "$measured")
        assertTrue(measured.any { it.secondsLeft != null }, "a time left was shown")
        assertNull(seen.first { it.state == TransferState.RUNNING }.bytesPerSecond, "nothing before bytes moved")
        val line = TransferText.speed(measured.first { it.secondsLeft != null }) { "$it B" }
        assertTrue(line != null && line.endsWith(" left") && line.contains(" B/s"), "$line")
        assertNull(TransferText.speed(done) { "$it" }, "an ended transfer shows no speed")
    }

    @Test
    fun aReceiverThatSkipsWhatItHasReportsTheSecondSendAsSkipped() = runBlocking {
        val rx = controller("Receiver") { it.copy(quickSave = QuickSave.EVERYONE, skipExisting = true) }
        assertTrue(rx.settings.value.skipExisting)
        val tx = controller("Sender")
        val a = file("a.txt", 5_000)
        val b = file("b.txt", 7_000)
        val device = tx.addByAddress("127.0.0.1:${rx.port()}")

        val first = tx.finished(tx.send(device, listOf(SendItem.Path(a.path))))
        assertEquals(TransferState.DONE, first.state)
        assertEquals(0, first.filesSkipped)
        // a.txt again, with b.txt: a.txt is already there.
        val second = tx.finished(tx.send(device, listOf(SendItem.Path(a.path), SendItem.Path(b.path))))
        assertEquals(TransferState.DONE, second.state, "$second")
        assertEquals(1, second.filesDone)
        assertEquals(1, second.filesSkipped)
        assertEquals("1 skipped by the receiver", TransferText.notes(second) { "$it" })
        assertEquals(HistoryOutcome.PARTIAL, tx.history.await("the second send recorded") { h -> h.any { it.id == second.id } }
            .first { it.id == second.id }.outcome, "one of two files went")
        val skippedThere = rx.transfers.await("the receive with a skipped file", 30) { l -> l.any { it.filesSkipped > 0 && it.state.finished } }
            .first { it.filesSkipped > 0 }
        assertEquals(1, skippedThere.filesSkipped)
        assertEquals("1 already there, skipped", TransferText.notes(skippedThere) { "$it" })
        // Only a.txt, once more: nothing to send, not a decline.
        val third = tx.finished(tx.send(device, listOf(SendItem.Path(a.path))))
        assertEquals(TransferState.DONE, third.state, "$third")
        assertEquals(1, third.filesSkipped)
        assertEquals(listOf("a.txt", "b.txt"), File(root, "Receiver-inbox").list()!!.filter { !it.startsWith(".") }.sorted())

        // Without the setting, the same file arrives again beside the first.
        rx.updateSettings { it.copy(skipExisting = false) }
        val device2 = tx.addByAddress("127.0.0.1:${rx.port()}")
        val fourth = tx.finished(tx.send(device2, listOf(SendItem.Path(a.path))))
        assertEquals(0, fourth.filesSkipped)
        assertTrue(File(root, "Receiver-inbox/a (2).txt").isFile)
        // The setting is kept across runs.
        rx.updateSettings { it.copy(skipExisting = true) }
        assertTrue(SettingsStore(File(root, "Receiver/settings.properties")) { Settings("x") }.load().skipExisting)
        assertNull(QuickSaveNotice.of(first, null), "a send is never a quick-save notice")
    }
}
