package app.ferry.logic

import app.ferry.core.DeviceKind
import app.ferry.core.SendItem
import java.io.File
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.runBlocking
import org.junit.Test

/** A document tree in memory: folder id -> children; a folder listed in [broken] cannot be read. */
class FakeTree(private val folders: Map<String, List<DocumentTree.Entry>>, private val broken: Set<String> = emptySet()) : DocumentTree {
    var listed = 0
    override fun children(folderId: String): List<DocumentTree.Entry> {
        listed++
        if (folderId in broken) throw SecurityException("permission denied\u001b[0m")
        return folders[folderId] ?: emptyList()
    }
}

fun file(id: String, name: String, size: Long? = 10) = DocumentTree.Entry(id, name, folder = false, size = size)
fun folder(id: String, name: String) = DocumentTree.Entry(id, name, folder = true, size = null)

class FolderWalkTest {
    @Test
    fun hostileNamesBecomeSafeUniquePathsAndUnreadableFoldersAreSkipped() {
        val tree = FakeTree(
            mapOf(
                "root" to listOf(
                    file("1", "a.txt"),
                    file("2", "../../etc/passwd"),
                    file("3", "A.TXT"),
                    file("4", "a.txt"),
                    file("5", ".."),
                    file("6", "invoice\u202Efdp.exe"),
                    file("7", "line\nbreak\u0000.txt"),
                    file("8", "x".repeat(300) + ".jpeg"),
                    folder("d", "sub/dir"),
                    folder("locked", "Private"),
                    file("9", "   "),
                ),
                "d" to listOf(file("10", "deep.bin", 5), folder("e", "empty")),
            ),
            broken = setOf("locked"),
        )
        val r = FolderWalk.walk(tree, "root", "My Photos")
        assertNull(r.stoppedBecause)
        val paths = r.files.map { it.relativePath }
        assertEquals(
            listOf(
                "My Photos/a.txt", "My Photos/.._.._etc_passwd", "My Photos/A (2).TXT", "My Photos/a (3).txt", "My Photos/_",
                "My Photos/invoice_fdp.exe", "My Photos/line_break_.txt", "My Photos/" + "x".repeat(FolderWalk.MAX_NAME_BYTES - 5) + ".jpeg",
                "My Photos/_ (2)", "My Photos/sub_dir/deep.bin",
            ),
            paths,
        )
        paths.forEach { p ->
            assertTrue(p.split('/').none { it.isEmpty() || it == "." || it == ".." || it.toByteArray().size > FolderWalk.MAX_NAME_BYTES }, p)
        }
        assertEquals(listOf("1", "2", "3", "4", "5", "6", "7", "8", "9", "10"), r.files.map { it.id })
        assertEquals(1, r.skipped.size, "${r.skipped}")
        assertEquals("My Photos/Private: cannot be read (permission denied\\x1b[0m)", r.skipped.single())
        assertEquals(95L, r.totalBytes)
    }

    @Test
    fun theWalkIsBoundedInDepthFilesBytesAndFolders() {
        // A chain of folders 50 deep, a file in each.
        val chain = (0 until 50).associate { i -> "f$i" to listOf(file("file$i", "n$i.txt"), folder("f${i + 1}", "level${i + 1}")) }
        val deep = FolderWalk.walk(FakeTree(chain), "f0", "Top", WalkLimits(maxDepth = 3))
        assertEquals(4, deep.files.size, "the root and three levels below it")
        assertEquals(listOf("Top/level1/level2/level3/level4: deeper than 3 folders, left out"), deep.skipped)

        val many = mapOf("r" to (0 until 100).map { file("$it", "f$it") })
        val byCount = FolderWalk.walk(FakeTree(many), "r", "R", WalkLimits(maxFiles = 10))
        assertEquals(10, byCount.files.size)
        assertEquals("more than 10 files", byCount.stoppedBecause)

        val big = mapOf("r" to listOf(file("1", "a", 3L shl 30), file("2", "b", 2L shl 30), file("3", "c", null)))
        val byBytes = FolderWalk.walk(FakeTree(big), "r", "R", WalkLimits(maxBytes = 4L shl 30))
        assertEquals(listOf("R/a"), byBytes.files.map { it.relativePath })
        assertEquals("more than 4 GB", byBytes.stoppedBecause)

        // A provider that lists a folder inside itself (a cycle) or endless folders: bounded.
        val cycle = FakeTree(mapOf("r" to listOf(folder("r", "again"), folder("x", "x")), "x" to listOf(folder("r", "back"))))
        val c = FolderWalk.walk(cycle, "r", "R")
        assertTrue(c.files.isEmpty())
        assertEquals(2, cycle.listed)
        val wide = FakeTree((0 until 5000).associate { "d$it" to listOf(folder("d${it + 1}", "d")) })
        val w = FolderWalk.walk(wide, "d0", "W", WalkLimits(maxDepth = 10_000, maxFolders = 100))
        assertEquals("more than 100 folders", w.stoppedBecause)
        assertTrue(wide.listed <= 100)

        // Many unreadable folders: the messages are bounded too.
        val locked = FakeTree(mapOf("r" to (0 until 50).map { folder("l$it", "l$it") }), broken = (0 until 50).map { "l$it" }.toSet())
        val l = FolderWalk.walk(locked, "r", "R")
        assertEquals(FolderWalk.MAX_MESSAGES + 1, l.skipped.size)
        assertEquals("and 30 more left out", l.skipped.last())
    }

    @Test
    fun safeNamesKeepOrdinaryTextAndShortExtensions() {
        assertEquals("Ferienfotos 2024 – Río", FolderWalk.safeName(" Ferienfotos 2024 – Río "))
        assertEquals("report", FolderWalk.safeName("report. . "))
        assertEquals("_", FolderWalk.safeName("..."))
        assertEquals("", FolderWalk.safeName("   "), "nothing left: the walk names it _")
        assertEquals("_", FolderWalk.safeName("\u200B"))
        assertEquals("_", FolderWalk.safeName(".."))
        val emoji = "😀".repeat(100) + ".png"
        val cut = FolderWalk.safeName(emoji)
        assertTrue(cut.endsWith(".png") && cut.toByteArray().size <= FolderWalk.MAX_NAME_BYTES, cut)
        assertTrue(!Character.isHighSurrogate(cut[cut.length - 5]), "no half emoji")
    }

    /** The walked paths go to a real receiver as descriptors named by relative path: it rebuilds the folder. */
    @Test
    fun aWalkedFolderArrivesWithItsStructure(): Unit = runBlocking {
        val root = Files.createTempDirectory("ferry-walk-").toFile()
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        val controllers = listOf("Receiver", "Sender").map { name ->
            FerryController(File(root, name), DeviceInfo(name, "JVM test", DeviceKind.DESKTOP, File(root, "$name-inbox")), scope,
                network = NetworkOptions(discovery = false, bindAddress = "127.0.0.1", scanLingerMs = 0)).also { c ->
                c.updateSettings { it.copy(port = 0, quickSave = QuickSave.EVERYONE) }
                assertTrue(c.start() is NodeState.Running)
            }
        }
        try {
            val (rx, tx) = controllers
            val content = mapOf("1" to "first", "2" to "not a passwd", "10" to "deep down")
            val tree = FakeTree(
                mapOf(
                    "root" to listOf(file("1", "a.txt"), file("2", "../../passwd"), folder("d", "sub")),
                    "d" to listOf(file("10", "deep.txt")),
                ),
            )
            val walked = FolderWalk.walk(tree, "root", "Album")
            val items = walked.files.map { f ->
                val disk = File(root, "src/${f.id}").apply { parentFile.mkdirs(); writeText(content.getValue(f.id)) }
                val fd = libc.open(disk.path, O_RDONLY, 0)
                assertTrue(fd >= 0)
                SendItem.Fd(fd, f.relativePath, null, null)
            }
            val port = (rx.node.value as NodeState.Running).port
            val id = tx.send(tx.addByAddress("127.0.0.1:$port"), items)
            val done = tx.transfers.await("the folder send to end") { l -> l.any { it.id == id && it.state.finished } }.first { it.id == id }
            assertEquals(TransferState.DONE, done.state, "$done")
            assertEquals(3, done.filesDone)
            val inbox = File(root, "Receiver-inbox")
            assertEquals("first", File(inbox, "Album/a.txt").readText())
            assertEquals("not a passwd", File(inbox, "Album/.._.._passwd").readText())
            assertEquals("deep down", File(inbox, "Album/sub/deep.txt").readText())
            assertNotNull(inbox.listFiles())
            assertEquals(listOf("Album"), inbox.list()!!.filter { !it.startsWith(".") })
        } finally {
            controllers.forEach { it.close() }
            scope.cancel()
            root.deleteRecursively()
        }
    }
}
