package app.ferry.logic

import java.io.File
import java.net.URLDecoder
import java.net.URLEncoder

enum class HistoryOutcome { DONE, PARTIAL, FAILED, CANCELLED, DECLINED }

/** A file of a finished transfer; [location] is where a received file was saved (a path or a content URI). */
data class HistoryFile(val name: String, val size: Long, val location: String?)

data class HistoryEntry(
    val id: String,
    val direction: Direction,
    val peerAlias: String,
    val peerFingerprint: String?,
    val files: List<HistoryFile>,
    val bytes: Long,
    val outcome: HistoryOutcome,
    val message: String?,
    val atMs: Long,
    /** A text message instead of files. */
    val text: String? = null,
)

/**
 * The history, newest first, in a file of one line per entry (fields percent-encoded, so that
 * any name is safe). New entries are appended; the file is rewritten when it is trimmed to
 * [limit] entries or an entry is removed.
 */
open class HistoryStore(private val file: File, private val limit: Int = 500) {
    private val entries = ArrayList<HistoryEntry>()
    private var lines = 0

    init {
        if (file.exists()) {
            file.readLines().forEach { line -> decode(line)?.let { entries.add(0, it) }; lines++ }
            while (entries.size > limit) entries.removeAt(entries.size - 1)
        }
    }

    @Synchronized
    fun all(): List<HistoryEntry> = entries.toList()

    /** Adds [e] (newest first) and returns the history. Throws when the file cannot be written. */
    @Synchronized
    open fun add(e: HistoryEntry): List<HistoryEntry> {
        entries.add(0, e)
        if (entries.size > limit || lines >= 2 * limit) {
            while (entries.size > limit) entries.removeAt(entries.size - 1)
            rewrite()
        } else {
            file.parentFile?.mkdirs()
            file.appendText(encode(e) + "\n")
            lines++
        }
        return entries.toList()
    }

    @Synchronized
    fun remove(id: String): List<HistoryEntry> {
        if (entries.removeAll { it.id == id }) rewrite()
        return entries.toList()
    }

    @Synchronized
    fun clear(): List<HistoryEntry> {
        entries.clear()
        rewrite()
        return emptyList()
    }

    private fun rewrite() {
        writeAtomically(file) { out -> out.write(entries.asReversed().joinToString("") { encode(it) + "\n" }.toByteArray()) }
        lines = entries.size
    }

    private companion object {
        const val VERSION = "1"
        /**
         * The charset by name: the `(String, Charset)` overloads exist on Android only from API 33
         * (NoSuchMethodError below it; minSdk is 26). scripts/android-api-check.sh keeps it so.
         */
        const val UTF_8 = "UTF-8"
        fun enc(s: String?): String = if (s == null) "-" else "=" + URLEncoder.encode(s, UTF_8)
        fun dec(s: String): String? = if (s == "-") null else URLDecoder.decode(s.removePrefix("="), UTF_8)

        fun encode(e: HistoryEntry): String {
            val files = e.files.joinToString(",") { f -> listOf(enc(f.name), f.size.toString(), enc(f.location)).joinToString(";") }
            return listOf(VERSION, enc(e.id), e.direction.name, enc(e.peerAlias), enc(e.peerFingerprint), files, e.bytes.toString(),
                e.outcome.name, enc(e.message), e.atMs.toString(), enc(e.text)).joinToString("\t")
        }

        fun decode(line: String): HistoryEntry? = try {
            val f = line.split("\t")
            if (f.size != 11 || f[0] != VERSION) null else HistoryEntry(
                id = dec(f[1])!!,
                direction = Direction.valueOf(f[2]),
                peerAlias = dec(f[3]) ?: "",
                peerFingerprint = dec(f[4]),
                files = if (f[5].isEmpty()) emptyList() else f[5].split(",").map { x ->
                    val p = x.split(";")
                    HistoryFile(dec(p[0]) ?: "", p[1].toLong(), dec(p[2]))
                },
                bytes = f[6].toLong(),
                outcome = HistoryOutcome.valueOf(f[7]),
                message = dec(f[8]),
                atMs = f[9].toLong(),
                text = dec(f[10]),
            )
        } catch (_: RuntimeException) {
            null // a damaged line is skipped, not fatal
        }
    }
}
