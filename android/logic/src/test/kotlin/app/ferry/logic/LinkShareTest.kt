// Share via link and the receive page through the controller: a real node on 127.0.0.1 and a real
// HTTP client (HttpURLConnection) as the browser.
package app.ferry.logic

import app.ferry.core.BrowserRequest
import app.ferry.core.DeviceKind
import app.ferry.core.SendItem
import app.ferry.core.ShareUpdate
import java.io.File
import java.net.HttpURLConnection
import java.net.URI
import java.nio.file.Files
import java.util.concurrent.Callable
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test

class LinkShareTest {
    private lateinit var root: File
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    private val controllers = mutableListOf<FerryController>()
    private val pool = Executors.newCachedThreadPool()

    @Before
    fun setUp() {
        root = Files.createTempDirectory("ferry-link-").toFile()
    }

    @After
    fun tearDown() {
        controllers.forEach { it.close() }
        scope.cancel()
        pool.shutdownNow()
        root.deleteRecursively()
    }

    /** A node with encryption off: browsers open its pages over plain HTTP, on 127.0.0.1 only. */
    private fun controller(name: String): FerryController {
        val c = FerryController(File(root, name), DeviceInfo(name, "JVM test", DeviceKind.DESKTOP, File(root, "$name-inbox")), scope,
            network = NetworkOptions(discovery = false, bindAddress = "127.0.0.1", scanLingerMs = 0))
        c.updateSettings { it.copy(port = 0, encryption = false) }
        controllers.add(c)
        assertTrue(c.start() is NodeState.Running)
        return c
    }

    private class Reply(val status: Int, val type: String?, val body: ByteArray) {
        val text: String get() = String(body)
    }

    /** One request as a browser makes it (loopback only, bounded in time). */
    private fun http(url: String, method: String = "GET", agent: String = "TestBrowser/1.0"): Reply {
        val uri = URI(url)
        require(uri.host == "127.0.0.1") { "loopback only: $url" }
        val c = uri.toURL().openConnection() as HttpURLConnection
        c.connectTimeout = 30_000
        c.readTimeout = 60_000
        c.requestMethod = method
        c.setRequestProperty("User-Agent", agent)
        if (method == "POST") {
            c.doOutput = true
            c.setFixedLengthStreamingMode(0)
            c.outputStream.close()
        }
        return try {
            val status = c.responseCode
            val body = (if (status < 400) c.inputStream else c.errorStream)?.use { it.readBytes() } ?: ByteArray(0)
            Reply(status, c.contentType, body)
        } finally {
            c.disconnect()
        }
    }

    private fun after(text: String, key: String): String {
        val at = text.indexOf(key)
        assertTrue(at >= 0, "$key in $text")
        return text.substring(at + key.length).substringBefore('"')
    }

    @Test
    fun aShareIsOpenedAskedAboutDownloadedAndStopped(): Unit = runBlocking {
        val phone = controller("Phone")
        val a = File(root, "out/a.txt").apply { parentFile.mkdirs(); writeText("shared bytes") }
        File(root, "out/proj/sub").mkdirs()
        File(root, "out/proj/sub/x.txt").writeText("in a folder")
        val state = phone.startShare(listOf(SendItem.Path(a.path), SendItem.Path(File(root, "out/proj").path)))
        val port = (phone.node.value as NodeState.Running).port
        val link = "http://127.0.0.1:$port/"
        assertEquals(listOf(link), state.links)
        assertEquals(listOf("a.txt", "proj/sub/x.txt"), state.files.sorted())
        assertEquals(listOf("proj"), state.folders)
        assertEquals(12L + 11, state.totalBytes)
        assertNotNull(state.qr, "the first link as a QR code")
        assertEquals(state, phone.linkShare.value)

        // The page opens; the file list waits for the owner's yes.
        val page = http(link)
        assertEquals(200, page.status)
        assertTrue(page.type.orEmpty().startsWith("text/html"), "${page.type}")
        val listing = pool.submit(Callable { http("${link}api/localsend/v2/prepare-download", "POST") })
        val asked = phone.linkShare.await("the browser to ask") { it != null && it.asking.isNotEmpty() }!!.asking.single()
        assertEquals("127.0.0.1", asked.address)
        assertEquals("TestBrowser/1.0", asked.userAgent)
        phone.answerBrowser(asked.id, approve = true)
        val list = listing.get(60, TimeUnit.SECONDS)
        assertEquals(200, list.status, list.text)
        assertTrue(phone.linkShare.value!!.asking.isEmpty())
        phone.linkShare.await("the browser approved") { it != null && "127.0.0.1" in it.approved }

        val session = after(list.text, "\"sessionId\":\"")
        val id = after(list.text.substring(list.text.indexOf("\"fileName\":\"a.txt\"")), "\"id\":\"")
        val got = http("${link}api/localsend/v2/download?sessionId=$session&fileId=$id")
        assertEquals(200, got.status)
        assertContentEquals(a.readBytes(), got.body)
        val d = phone.linkShare.await("the download to end") { s -> s != null && s.downloads.any { it.finished } }!!.downloads.single()
        assertEquals("a.txt", d.name)
        assertTrue(d.complete, "$d")
        assertEquals(12L, d.size)

        // Stopped: the list is gone, and so is the share for browsers.
        phone.stopShare()
        assertNull(phone.linkShare.value)
        assertNotEquals(200, http("${link}api/localsend/v2/prepare-download", "POST").status)
        assertNotEquals(200, http(link).status, "no page without a share or the receive page")

        // The receive page: the same links open it while it is on.
        phone.setReceivePage(true)
        assertTrue(phone.receivePage.value)
        assertEquals(listOf(link), phone.links())
        assertEquals(200, http(link).status)
        phone.setReceivePage(false)
        assertNotEquals(200, http(link).status)
    }

    @Test
    fun whatBrowsersSayIsShownSafeAndBounded() {
        var s = LinkShareState(listOf("http://127.0.0.1:1/"), listOf("a"), emptyList(), 1, null)
        s = s.asked(BrowserRequest("1", "10.0.0.9", "Evil\u001b[2J\u202Eexe"), 0)
        assertEquals("Evil\\x1b[2J\\u{202e}exe", s.asking.single().userAgent)
        s = s.asked(BrowserRequest("2", "10.0.0.9", "again"), 1)
        assertEquals(listOf("2"), s.asking.map { it.id }, "a newer ask from the same address replaces the older")
        repeat(100) { i -> s = s.asked(BrowserRequest("x$i", "10.0.1.$i", "A".repeat(1000)), i.toLong()) }
        assertEquals(LinkShareState.MAX_ASKING, s.asking.size)
        assertEquals(LinkShareState.MAX_AGENT, s.asking.last().userAgent.length)
        s = s.after(ShareUpdate.BrowserApproved("10.0.1.99"))
        assertTrue(s.asking.none { it.address == "10.0.1.99" } && "10.0.1.99" in s.approved)
        repeat(100) { i ->
            s = s.after(ShareUpdate.DownloadStarted("10.0.1.1", "f$i", "n\u202E$i", 0u, 10u))
        }
        assertEquals(LinkShareState.MAX_DOWNLOADS, s.downloads.size)
        assertEquals("n\\u{202e}99", s.downloads.last().name)
        s = s.after(ShareUpdate.DownloadProgress("10.0.1.1", "f99", 5u, 10u))
        s = s.after(ShareUpdate.DownloadFinished("10.0.1.1", "f99", 10u, true))
        assertEquals(ShareDownload("10.0.1.1", "f99", "n\\u{202e}99", 10, 10, 0, finished = true, complete = true), s.downloads.last())
        s = s.after(ShareUpdate.DownloadProgress("10.0.1.1", "f99", 7u, 10u))
        assertEquals(10L, s.downloads.last().sent, "a late update does not undo the end")
        assertEquals(1, s.after(ShareUpdate.PinFailed("10.0.0.3", null)).wrongPins)
    }
}
