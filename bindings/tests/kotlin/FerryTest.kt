// Kotlin tests of the generated bindings, on a plain JVM against the host library
// (make test-kotlin). Two nodes in one JVM on 127.0.0.1, discovery off.
package app.ferry.core.test

import app.ferry.core.*
import java.io.File
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlinx.coroutines.runBlocking

/** How a test listener misbehaves after recording each event, as a careless app's might. */
class Misbehaviour(val throws: Boolean = false, val blockMillis: Long = 0) {
    val calls = java.util.concurrent.atomic.AtomicInteger()
    fun after() {
        calls.incrementAndGet()
        if (blockMillis > 0) Thread.sleep(blockMillis)
        if (throws) throw IllegalStateException("this listener throws on every call")
    }
}

/** Records a node's events; `requests` get answered by the test. */
class Recorder(val bad: Misbehaviour = Misbehaviour()) : NodeListener {
    val events = LinkedBlockingQueue<Any>()
    val requests = LinkedBlockingQueue<IncomingRequest>()
    val texts = LinkedBlockingQueue<Pair<Sender, String>>()
    val receives = LinkedBlockingQueue<ReceiveUpdate>()
    override fun onDeviceFound(device: Device) { events.add(device); bad.after() }
    override fun onDeviceUpdated(device: Device) { bad.after() }
    override fun onDeviceLost(device: Device) { bad.after() }
    override fun onRequest(request: IncomingRequest) { requests.add(request); bad.after() }
    override fun onText(sender: Sender, text: String) { texts.add(sender to text); bad.after() }
    override fun onReceive(update: ReceiveUpdate) { receives.add(update); bad.after() }
}

class Sends(val bad: Misbehaviour = Misbehaviour()) : TransferListener {
    val updates = LinkedBlockingQueue<SendUpdate>()
    override fun onUpdate(update: SendUpdate) { updates.add(update); bad.after() }
    /** Every update up to the final one (finished or failed). */
    fun untilEnd(seconds: Long = 30): List<SendUpdate> {
        val all = mutableListOf<SendUpdate>()
        while (true) {
            val u = updates.poll(seconds, TimeUnit.SECONDS) ?: fail("no final update after ${seconds}s: $all")
            all.add(u)
            if (u is SendUpdate.Finished || u is SendUpdate.Failed) return all
        }
    }
}

fun <T> LinkedBlockingQueue<T>.next(what: String, seconds: Long = 10): T =
    poll(seconds, TimeUnit.SECONDS) ?: fail("timed out waiting for $what")

inline fun <reified T> LinkedBlockingQueue<ReceiveUpdate>.nextOf(what: String): T {
    while (true) {
        val u = next(what)
        if (u is T) return u
    }
}

/** The C library, for raw file descriptors as Android's ParcelFileDescriptor.detachFd() gives them. */
interface LibC : com.sun.jna.Library {
    fun open(path: String, flags: Int): Int
    fun close(fd: Int): Int
    fun pipe(fds: IntArray): Int
    fun write(fd: Int, buf: ByteArray, count: com.sun.jna.NativeLong): com.sun.jna.NativeLong
}
val libc: LibC = com.sun.jna.Native.load("c", LibC::class.java)
const val O_RDONLY = 0
const val O_WRONLY = 1

/** The read end of a pipe that a thread fills with `data` (a provider streaming a document). */
fun pipeWith(data: ByteArray): Int {
    val fds = IntArray(2)
    check(libc.pipe(fds) == 0)
    Thread {
        var off = 0
        while (off < data.size) {
            val chunk = data.copyOfRange(off, minOf(off + 65536, data.size))
            val n = libc.write(fds[1], chunk, com.sun.jna.NativeLong(chunk.size.toLong())).toInt()
            if (n <= 0) break
            off += n
        }
        libc.close(fds[1])
    }.start()
    return fds[0]
}

/** An app's sink: each incoming file goes to a new file in `dir`, opened as a raw descriptor. */
class Sink(val dir: File, val refuse: String? = null) : FileSink {
    val closed = LinkedBlockingQueue<Pair<String, Boolean>>()
    override fun openFile(sessionId: String, file: OfferedFile): FileDestination {
        if (refuse != null) return FileDestination.Refuse(refuse)
        val f = File(dir, file.name).apply { writeBytes(ByteArray(5_000_000) { -1 }) } // old, longer content
        val fd = libc.open(f.path, O_WRONLY)
        check(fd >= 0)
        return FileDestination.Descriptor(fd)
    }
    override fun closeFile(sessionId: String, fileId: String, complete: Boolean) { closed.add(fileId to complete) }
}

/** Every temporary folder the tests make; all are removed when the tests end. */
val tempDirs = mutableListOf<File>()
fun tempDir(name: String): File = Files.createTempDirectory("ferry-kt-$name").toFile().also { tempDirs.add(it) }

class TestNode(alias: String, pin: String? = null, val listener: Recorder = Recorder()) {
    val inbox = tempDir("$alias-in")
    // The constructor is a suspend function (it never blocks an app's main thread).
    val node: FerryNode = runBlocking { FerryNode.start(
        NodeConfig(
            alias = alias, deviceKind = DeviceKind.MOBILE, deviceModel = "JVM", port = 0u,
            configDir = tempDir("$alias-cfg").path, receiveDir = inbox.path, pin = pin,
            encryption = true, discovery = false, interfacesInclude = listOf(), interfacesExclude = listOf(),
            receiveMode = ReceiveMode.ASK, bindAddress = "127.0.0.1",
        ),
        listener,
    ) }
    val address get() = "127.0.0.1:${node.port()}"
}

val tests = linkedMapOf<String, () -> Unit>()
fun test(name: String, body: () -> Unit) { tests[name] = body }

fun main() {
    val a = TestNode("Anna")
    val b = TestNode("Ben")
    val ben = runBlocking { a.node.addAddress(b.address) }

    test("find by address: verified, with the same verification code on both sides") {
        assertEquals("Ben", ben.alias)
        assertTrue(ben.verified)
        assertEquals(b.node.fingerprint(), ben.fingerprint)
        assertTrue(a.node.devices().any { it.fingerprint == ben.fingerprint })
        val mine = a.node.verificationCode(ben.fingerprint)
        val theirs = b.node.verificationCode(a.node.fingerprint())
        assertEquals(mine.digits, theirs.digits)
        assertTrue(mine.bytes.contentEquals(theirs.bytes) && mine.bytes.size == 16)
        assertEquals(mine.digits, verificationCode(b.node.fingerprint(), a.node.fingerprint()).digits)
        assertEquals(19, a.node.verificationCode(ben.fingerprint).digits.length)
    }

    test("files and a folder, a subset accepted, progress in order summing to the sizes") {
        val src = tempDir("src")
        File(src, "keep.bin").writeBytes(ByteArray(3_000_000) { (it % 251).toByte() })
        File(src, "skip.txt").writeText("not this one")
        File(src, "album/2024").mkdirs()
        File(src, "album/2024/photo.jpg").writeBytes(ByteArray(700_000) { 7 })
        File(src, "album/notes.txt").writeText("notes")
        val sends = Sends()
        val handle = a.node.sendFiles(
            SendTarget.Device(ben.fingerprint),
            listOf(SendItem.Path(File(src, "keep.bin").path), SendItem.Path(File(src, "skip.txt").path), SendItem.Path(File(src, "album").path)),
            null, sends,
        )
        val req = b.listener.requests.next("request")
        assertEquals("Anna", req.sender.alias)
        assertTrue(req.sender.verified)
        assertEquals(a.node.verificationCode(b.node.fingerprint()).digits, req.verificationCode)
        assertEquals(4, req.files.size)
        val wanted = req.files.filter { it.name != "skip.txt" }
        b.node.answer(req.sessionId, Decision.Accept(wanted.map { it.id }))
        assertFailsWith<FerryException.InvalidInput> { b.node.answer(req.sessionId, Decision.AcceptAll) }
        val updates = sends.untilEnd()
        val end = updates.last()
        assertTrue(end is SendUpdate.Finished, "ended with $end")
        assertEquals(3u, end.sent)
        assertEquals(1u, end.skipped)
        assertTrue(handle.isFinished())
        val accepted = updates.filterIsInstance<SendUpdate.Accepted>().single()
        assertEquals(wanted.sumOf { it.size }, accepted.totalSize)
        // per file: sent never goes down and ends at the size; the running total ends at the sum
        val progress = updates.filterIsInstance<SendUpdate.Progress>()
        for ((id, ps) in progress.groupBy { it.fileId }) {
            assertEquals(ps.map { it.sent }, ps.map { it.sent }.sorted(), "file $id progress out of order")
            assertEquals(ps.last().size, ps.last().sent)
        }
        assertEquals(progress.map { it.totalSent }, progress.map { it.totalSent }.sorted())
        assertEquals(accepted.totalSize, progress.last().totalSent)
        val fin = b.listener.receives.nextOf<ReceiveUpdate.Finished>("receive finished")
        assertEquals(TransferOutcome.Finished(3u, 0u), fin.outcome)
        assertTrue(File(src, "keep.bin").readBytes().contentEquals(File(b.inbox, "keep.bin").readBytes()))
        assertEquals("notes", File(b.inbox, "album/notes.txt").readText())
        assertEquals(700_000L, File(b.inbox, "album/2024/photo.jpg").length())
        assertFalse(File(b.inbox, "skip.txt").exists())
        handle.close()
    }

    test("a declined request ends the send as declined") {
        val f = File(tempDir("d"), "no.txt").apply { writeText("no") }
        val sends = Sends()
        a.node.sendFiles(SendTarget.Device(ben.fingerprint), listOf(SendItem.Path(f.path)), null, sends).use {
            val req = b.listener.requests.next("request")
            b.node.answer(req.sessionId, Decision.Decline)
            val end = sends.untilEnd().last()
            assertTrue(end is SendUpdate.Failed && end.kind == ErrorKind.DECLINED && errorKindCode(end.kind) == "declined", "ended with $end")
        }
    }

    test("send from file descriptors (name, size, MIME) and receive into supplied descriptors") {
        val src = tempDir("fd-src")
        val photo = File(src, "IMG_0001").apply { writeBytes(ByteArray(2_500_000) { (it % 241).toByte() }) }
        val streamed = ByteArray(1_200_000) { (it % 13).toByte() }
        val outside = tempDir("fd-out")
        val sink = Sink(outside)
        b.node.setFileSink(sink)
        try {
            val sends = Sends()
            val items = listOf(
                SendItem.Fd(libc.open(photo.path, O_RDONLY), "holiday.jpg", null, "image/jpeg"),
                SendItem.Fd(pipeWith(streamed), "stream.bin", streamed.size.toULong(), null),
            )
            a.node.sendFiles(SendTarget.Device(ben.fingerprint), items, null, sends).use {
                val req = b.listener.requests.next("request")
                val jpg = req.files.single { it.name == "holiday.jpg" }
                val bin = req.files.single { it.name == "stream.bin" }
                assertEquals("image/jpeg", jpg.mimeType)
                assertEquals(photo.length().toULong(), jpg.size)
                assertEquals(streamed.size.toULong(), bin.size)
                b.node.answer(req.sessionId, Decision.AcceptAll)
                val end = sends.untilEnd().last()
                assertTrue(end is SendUpdate.Finished && end.sent == 2u, "ended with $end")
                val saved = mutableListOf<ReceiveUpdate.FileSaved>()
                while (true) {
                    val u = b.listener.receives.next("receive updates")
                    if (u is ReceiveUpdate.FileSaved) saved.add(u)
                    if (u is ReceiveUpdate.Finished) { assertEquals(TransferOutcome.Finished(2u, 0u), u.outcome); break }
                }
                assertEquals(listOf<String?>(null, null), saved.map { it.path }, "written to the supplied descriptors")
                val closed = setOf(sink.closed.next("closeFile"), sink.closed.next("closeFile"))
                assertEquals(setOf(jpg.id to true, bin.id to true), closed)
                assertTrue(photo.readBytes().contentEquals(File(outside, "holiday.jpg").readBytes()))
                assertTrue(streamed.contentEquals(File(outside, "stream.bin").readBytes()))
                assertEquals(0, b.inbox.listFiles()!!.count { it.name in setOf("holiday.jpg", "stream.bin") }, "nothing stored twice")
            }
        } finally {
            b.node.setFileSink(null)
        }
    }

    test("a supplied descriptor whose transfer is cancelled is closed as incomplete; a refused one fails") {
        val big = File(tempDir("fd-big"), "big.bin").apply { writeBytes(ByteArray(64 * 1024 * 1024)) }
        val sink = Sink(tempDir("fd-out2"))
        b.node.setFileSink(sink)
        try {
            val sends = Sends()
            val handle = a.node.sendFiles(SendTarget.Device(ben.fingerprint), listOf(SendItem.Path(big.path)), null, sends)
            b.node.answer(b.listener.requests.next("request").sessionId, Decision.AcceptAll)
            b.listener.receives.nextOf<ReceiveUpdate.Progress>("receive progress")
            handle.cancel()
            assertEquals(false, sink.closed.next("closeFile").second, "the app must remove the partial file")
            b.listener.receives.nextOf<ReceiveUpdate.Finished>("receive finished")

            b.node.setFileSink(Sink(tempDir("fd-out3"), refuse = "no space left"))
            val f = File(tempDir("fd-small"), "small.txt").apply { writeText("small") }
            val again = Sends()
            a.node.sendFiles(SendTarget.Device(ben.fingerprint), listOf(SendItem.Path(f.path)), null, again).use {
                b.node.answer(b.listener.requests.next("request").sessionId, Decision.AcceptAll)
                val failed = b.listener.receives.nextOf<ReceiveUpdate.FileFailed>("file failed")
                assertEquals("no space left", failed.message)
                val end = again.untilEnd().last()
                assertTrue(end is SendUpdate.Failed, "ended with $end")
                // The file cannot be saved, so it is not asked for again: the session ends (by itself, or
                // by the sender giving up first), and the receiver is free again.
                val fin = b.listener.receives.nextOf<ReceiveUpdate.Finished>("receive finished")
                assertTrue(
                    fin.outcome == TransferOutcome.Finished(0u, 1u) || fin.outcome == TransferOutcome.CancelledBySender,
                    "ended with ${fin.outcome}",
                )
            }
        } finally {
            b.node.setFileSink(null)
        }
    }

    test("text messages") {
        assertTrue(runBlocking { a.node.sendText(SendTarget.Device(ben.fingerprint), "hello from Kotlin", null) })
        val (sender, text) = b.listener.texts.next("text")
        assertEquals("Anna", sender.alias)
        assertEquals("hello from Kotlin", text)
    }

    test("the sender cancels") {
        val big = File(tempDir("big"), "big.bin").apply { writeBytes(ByteArray(64 * 1024 * 1024)) }
        val sends = Sends()
        val handle = a.node.sendFiles(SendTarget.Device(ben.fingerprint), listOf(SendItem.Path(big.path)), null, sends)
        val req = b.listener.requests.next("request")
        b.node.answer(req.sessionId, Decision.AcceptAll)
        while (sends.updates.next("progress") !is SendUpdate.Progress) {}
        handle.cancel()
        val end = sends.untilEnd().last()
        assertTrue(end is SendUpdate.Failed && end.kind == ErrorKind.CANCELLED, "ended with $end")
        val fin = b.listener.receives.nextOf<ReceiveUpdate.Finished>("receive finished")
        assertEquals(TransferOutcome.CancelledBySender, fin.outcome)
        assertFalse(File(b.inbox, "big.bin").exists(), "a cancelled file must not look complete")
    }

    test("the receiver cancels") {
        val big = File(tempDir("big2"), "big2.bin").apply { writeBytes(ByteArray(64 * 1024 * 1024)) }
        val sends = Sends()
        a.node.sendFiles(SendTarget.Device(ben.fingerprint), listOf(SendItem.Path(big.path)), null, sends).use {
            val req = b.listener.requests.next("request")
            b.node.answer(req.sessionId, Decision.AcceptAll)
            b.listener.receives.nextOf<ReceiveUpdate.Progress>("receive progress")
            assertTrue(b.node.cancelReceive())
            val end = sends.untilEnd().last()
            assertTrue(end is SendUpdate.Failed, "ended with $end")
            assertFalse(File(b.inbox, "big2.bin").exists())
        }
    }

    test("PIN required, wrong PIN, and a device that is not the expected one are exceptions") {
        val c = TestNode("Cleo", pin = "2468")
        try {
            val cleo = SendTarget.Address(c.address, true, null)
            assertFailsWith<FerryException.PinRequired> { runBlocking { a.node.sendText(cleo, "x", null) } }
            assertFailsWith<FerryException.InvalidPin> { runBlocking { a.node.sendText(cleo, "x", "1111") } }
            assertTrue(runBlocking { a.node.sendText(cleo, "right pin", "2468") })
            val pinned = SendTarget.Address(c.address, true, b.node.fingerprint())
            assertFailsWith<FerryException.FingerprintMismatch> { runBlocking { a.node.sendText(pinned, "x", "2468") } }
        } finally {
            c.node.stop()
            c.node.close()
        }
    }

    test("bad input fails at once") {
        assertFailsWith<FerryException.InvalidInput> {
            a.node.sendFiles(SendTarget.Device("AB".repeat(32)), listOf(), null, Sends())
        }
        assertFailsWith<FerryException.InvalidInput> {
            a.node.sendFiles(SendTarget.Device(ben.fingerprint), listOf(SendItem.Path("/no/such/file")), null, Sends())
        }
        assertFailsWith<FerryException.InvalidInput> { b.node.answer("no-such-session", Decision.AcceptAll) }
        assertFailsWith<FerryException.InvalidInput> {
            a.node.sendFiles(SendTarget.Device(ben.fingerprint), listOf(SendItem.Fd(-1, "x.bin", 1u, null)), null, Sends())
        }
        assertFailsWith<FerryException.InvalidInput>("a stream needs its size") {
            a.node.sendFiles(SendTarget.Device(ben.fingerprint), listOf(SendItem.Fd(pipeWith(ByteArray(1)), "x.bin", null, null)), null, Sends())
        }
    }

    test("trust: a trusted sender is not asked") {
        assertTrue(b.node.trust(a.node.fingerprint(), "Anna"))
        assertTrue(b.node.isTrusted(a.node.fingerprint()))
        val f = File(tempDir("t"), "trusted.txt").apply { writeText("straight in") }
        val sends = Sends()
        a.node.sendFiles(SendTarget.Device(ben.fingerprint), listOf(SendItem.Path(f.path)), null, sends).use {
            assertTrue(sends.untilEnd().last() is SendUpdate.Finished)
        }
        assertTrue(b.listener.requests.isEmpty())
        assertEquals("straight in", File(b.inbox, "trusted.txt").readText())
        assertTrue(b.node.untrust(a.node.fingerprint()))
    }

    test("listeners that throw on every call lose only those calls: the transfer completes, later events arrive") {
        val c = TestNode("Cora", listener = Recorder(Misbehaviour(throws = true)))
        try {
            for (round in 1..2) {
                val src = File(tempDir("throw"), "thrown-$round.bin").apply { writeBytes(ByteArray(4_000_000) { (it % (239 - round)).toByte() }) }
                val sends = Sends(Misbehaviour(throws = true))
                val target = SendTarget.Address(c.address, true, c.node.fingerprint())
                a.node.sendFiles(target, listOf(SendItem.Path(src.path)), null, sends).use { handle ->
                    c.node.answer(c.listener.requests.next("request $round").sessionId, Decision.AcceptAll)
                    val updates = sends.untilEnd()
                    assertTrue(updates.last() is SendUpdate.Finished, "round $round ended with ${updates.last()}")
                    assertTrue(updates.any { it is SendUpdate.Progress } && handle.isFinished())
                    val fin = c.listener.receives.nextOf<ReceiveUpdate.Finished>("receive finished $round")
                    assertEquals(TransferOutcome.Finished(1u, 0u), fin.outcome)
                    assertTrue(src.readBytes().contentEquals(File(c.inbox, "thrown-$round.bin").readBytes()))
                    assertEquals(updates.size, sends.bad.calls.get(), "every update was delivered, each threw")
                }
            }
            assertTrue(c.listener.bad.calls.get() >= 6, "the node listener kept being called: ${c.listener.bad.calls.get()}")
            assertTrue(runBlocking { a.node.sendText(SendTarget.Address(c.address, true, c.node.fingerprint()), "still here", null) })
            assertEquals("still here", c.listener.texts.next("text").second)
        } finally {
            c.node.stop()
            c.node.close()
        }
    }

    test("listeners that block for a second on every call do not slow the transfer") {
        val c = TestNode("Dora", listener = Recorder(Misbehaviour(blockMillis = 1000)))
        try {
            val size = 32 * 1024 * 1024
            val src = File(tempDir("slow"), "slow.bin").apply { writeBytes(ByteArray(size) { (it % 233).toByte() }) }
            val sends = Sends(Misbehaviour(blockMillis = 1000))
            val target = SendTarget.Address(c.address, true, c.node.fingerprint())
            a.node.sendFiles(target, listOf(SendItem.Path(src.path)), null, sends).use { handle ->
                c.node.answer(c.listener.requests.next("request").sessionId, Decision.AcceptAll)
                val accepted = System.nanoTime()
                // The send ends (isFinished is set before the final update is queued) while both
                // listeners are still working through their first events, one second each.
                while (!handle.isFinished() && System.nanoTime() - accepted < 30_000_000_000L) Thread.sleep(20)
                val seconds = (System.nanoTime() - accepted) / 1e9
                assertTrue(handle.isFinished(), "a slow listener held the transfer up for ${seconds}s")
                println("   (32 MiB sent in %.2fs with listeners taking 1s per call; sender listener calls so far: %d, receiver: %d)"
                    .format(seconds, sends.bad.calls.get(), c.listener.bad.calls.get()))
                val updates = sends.untilEnd(60)
                assertTrue(updates.last() is SendUpdate.Finished, "ended with ${updates.last()}")
                val progress = updates.filterIsInstance<SendUpdate.Progress>()
                assertEquals(size.toULong(), progress.last().totalSent, "the last progress is current")
                assertTrue(progress.size < 30, "progress was not merged while the listener was busy: ${progress.size} updates")
                assertEquals(TransferOutcome.Finished(1u, 0u), c.listener.receives.nextOf<ReceiveUpdate.Finished>("receive finished").outcome)
                assertTrue(src.readBytes().contentEquals(File(c.inbox, "slow.bin").readBytes()))
            }
        } finally {
            c.node.stop()
            c.node.close()
        }
    }

    var failed = 0
    for ((name, body) in tests) {
        try {
            body()
            println("ok - $name")
        } catch (e: Throwable) {
            failed++
            println("not ok - $name: $e")
            e.printStackTrace(System.out)
        }
    }
    a.node.stop(); b.node.stop()
    a.node.close(); b.node.close()
    tempDirs.forEach { it.deleteRecursively() }
    println("${tests.size - failed} passed, $failed failed")
    System.exit(if (failed == 0) 0 else 1)
}
