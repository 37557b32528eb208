// Pairing by code through the controller, against real nodes on 127.0.0.1, and the QR image and
// link parsing the app draws and takes codes with.
package app.ferry.logic

import app.ferry.core.DeviceKind
import app.ferry.core.FerryException
import java.io.File
import java.net.InetAddress
import java.net.ServerSocket
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
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

class PairingTest {
    private lateinit var root: File
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    private val controllers = mutableListOf<FerryController>()

    @Before
    fun setUp() {
        root = Files.createTempDirectory("ferry-pair-").toFile()
    }

    @After
    fun tearDown() {
        controllers.forEach { it.close() }
        scope.cancel()
        root.deleteRecursively()
    }

    private fun controller(name: String): FerryController {
        val c = FerryController(File(root, name), DeviceInfo(name, "JVM test", DeviceKind.DESKTOP, File(root, "$name-inbox")), scope,
            network = NetworkOptions(discovery = false, bindAddress = "127.0.0.1", scanLingerMs = 0))
        c.updateSettings { it.copy(port = 0) }
        controllers.add(c)
        assertTrue(c.start() is NodeState.Running)
        return c
    }

    @Test
    fun aCodeFromTheOtherDevicePairsAndAnythingElseTrustsNothing(): Unit = runBlocking {
        val anna = controller("Anna")
        val ben = controller("Ben\u202Exe")
        val benFp = (ben.node.value as NodeState.Running).fingerprint
        val code = ben.pairingCode()
        assertTrue(code.startsWith("ferry://pair?v=1&fp=") && code.contains("ip=127.0.0.1"), code)
        assertEquals(code, PairingLink.of(" $code\n"), "a scanned or pasted code is taken")

        // Another fingerprint at Ben's address: a mismatch, nothing trusted.
        val wrong = code.replace(Regex("fp=[0-9A-Fa-f]+"), "fp=" + "AB".repeat(32))
        assertEquals(PairResult.Mismatch, anna.pair(wrong))
        // Nobody at the code's port.
        val closed = ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { it.localPort }
        assertEquals(PairResult.NothingAnswered, anna.pair(code.replace(Regex("([?&])p=\\d+"), "$1p=$closed")))
        // Malformed, and this device's own code.
        assertIs<PairResult.Invalid>(anna.pair("ferry://pair?v=1"))
        assertIs<PairResult.Invalid>(anna.pair(anna.pairingCode()))
        assertTrue(anna.trusted.value.isEmpty(), "nothing trusted: ${anna.trusted.value}")

        val paired = anna.pair(code)
        assertIs<PairResult.Paired>(paired)
        assertEquals("Ben\\u{202e}xe", paired.alias, "the alias it answered, shown safe")
        assertEquals(benFp, paired.fingerprint)
        assertTrue(paired.message.contains("“Ben\\u{202e}xe”"), paired.message)
        assertEquals(listOf(benFp), anna.trusted.value.map { it.fingerprint })
        val listed = anna.devices.await("Ben listed as a favorite") { l -> l.any { it.fingerprint == benFp && it.favorite } }
            .first { it.fingerprint == benFp }
        assertTrue(listed.verified)
    }

    @Test
    fun aLinkIsConfirmedFirstAScanPairsAtOnce(): Unit = runBlocking {
        val anna = controller("Anna")
        val ben = controller("Ben")
        val benFp = (ben.node.value as NodeState.Running).fingerprint
        val model = PairingModel(scope, anna::pairingCode, anna::pair)
        assertNull(model.state.value)
        model.open()
        val opened = assertNotNull(model.state.value)
        assertEquals(anna.pairingCode(), opened.ownCode)
        assertNotNull(opened.qr, "this device's code as a QR image")

        // A link (a web page may open one): asked first, nothing probed or trusted meanwhile.
        model.offer(ben.pairingCode(), PairingSource.LINK)
        assertEquals(ben.pairingCode(), model.state.value?.confirm)
        assertEquals(benFp.take(16).chunked(4).joinToString(" "), model.state.value?.confirmFingerprint)
        assertFalse(model.state.value!!.busy)
        assertTrue(anna.trusted.value.isEmpty())
        model.dismissConfirm()
        assertNull(model.state.value?.confirm)
        assertTrue(anna.trusted.value.isEmpty())

        // Not a code: said so, nothing asked.
        model.offer("https://example.com/", PairingSource.SCAN)
        assertIs<PairResult.Invalid>(model.state.value?.result)

        // Scanned: paired at once.
        model.offer(ben.pairingCode(), PairingSource.SCAN)
        val done = model.state.await("the pairing to end") { it?.result is PairResult.Paired }
        assertEquals(PairResult.Paired("Ben", benFp), done?.result)
        assertEquals(listOf(benFp), anna.trusted.value.map { it.fingerprint })
        model.close()
        assertNull(model.state.value)
        // A link with the screen closed opens it, waiting for the yes.
        model.offer(ben.pairingCode(), PairingSource.LINK)
        assertNotNull(model.state.value?.confirm)
        model.confirm()
        assertIs<PairResult.Paired>(model.state.await("the confirmed pairing") { it?.result != null }?.result)
    }

    @Test
    fun errorsMapToMessagesForPeople() {
        assertEquals(PairResult.Mismatch, PairResult.of(FerryException.FingerprintMismatch("x")))
        assertEquals(PairResult.NothingAnswered, PairResult.of(FerryException.Network("refused")))
        assertEquals(PairResult.NothingAnswered, PairResult.of(FerryException.Timeout("slow")))
        assertEquals(PairResult.Invalid("bad \\x1b[31m"), PairResult.of(FerryException.InvalidInput("bad \u001b[31m")))
        assertEquals(PairResult.Failed("Ferry is not running"), PairResult.of(IllegalStateException("Ferry is not running")))
        assertEquals(PairResult.Failed("disk"), PairResult.of(FerryException.Io("disk")))
        assertTrue(PairResult.NothingAnswered.message.isNotBlank())
    }

    @Test
    fun onlyFerryPairLinksAreTaken() {
        val ok = "ferry://pair?v=1&fp=" + "ab".repeat(32) + "&p=53317&ip=192.168.1.2"
        assertEquals(ok, PairingLink.of(ok))
        assertEquals("FERRY://PAIR?v=1", PairingLink.of("FERRY://PAIR?v=1"))
        assertNull(PairingLink.of(null))
        assertNull(PairingLink.of(""))
        assertNull(PairingLink.of("https://pair?v=1"))
        assertNull(PairingLink.of("ferry://share?v=1"))
        assertNull(PairingLink.of("ferry://pair?v=1&a=x y"), "no spaces")
        assertNull(PairingLink.of("ferry://pair?v=1&a=\u202E"), "no invisible format characters")
        assertNull(PairingLink.of("ferry://pair?" + "a".repeat(PairingLink.MAX_LENGTH)), "bounded")
    }

    @Test
    fun theQrImageHasItsQuietZoneAndFinderPatterns() {
        val code = "ferry://pair?v=1&fp=" + "ab".repeat(32) + "&a=Phone&p=53317&s=https&ip=192.168.1.20"
        val qr = assertNotNull(QrImage.of(code))
        val n = qr.size - 8
        assertTrue(n >= 21 && (n - 21) % 4 == 0, "size $n")
        // Light all around (4 modules), then the top-left finder: a dark 7x7 ring, light ring, dark 3x3 core.
        for (i in 0 until qr.size) {
            for (q in 0 until 4) {
                assertFalse(qr.isDark(i, q) || qr.isDark(q, i) || qr.isDark(i, qr.size - 1 - q) || qr.isDark(qr.size - 1 - q, i))
            }
        }
        for (i in 0 until 7) {
            assertTrue(qr.isDark(4 + i, 4) && qr.isDark(4, 4 + i) && qr.isDark(4 + i, 10) && qr.isDark(10, 4 + i), "ring at $i")
        }
        assertFalse(qr.isDark(5, 5))
        assertTrue(qr.isDark(6, 6) && qr.isDark(8, 8))
        assertFalse(qr.isDark(11, 4), "separator")
        // The top-right and bottom-left finders too.
        assertTrue(qr.isDark(qr.size - 5, 4) && qr.isDark(4, qr.size - 5))
        assertFalse(qr.isDark(-1, 0) || qr.isDark(0, qr.size))
        assertNull(QrImage.of("x".repeat(5000)), "too long for a QR code")
    }
}
