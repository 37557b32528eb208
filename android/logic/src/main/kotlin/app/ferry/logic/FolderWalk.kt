package app.ferry.logic

/**
 * A tree of documents to send as a folder (Android: a Storage Access Framework tree, listed with
 * DocumentsContract). Names are the provider's (any text: they are made safe by [FolderWalk]).
 */
interface DocumentTree {
    /** One child of a folder. [size] is null when the provider does not say. */
    data class Entry(val id: String, val name: String, val folder: Boolean, val size: Long?)

    /** The children of the folder [folderId]. Throws (any exception, its message shown) when it cannot be listed. */
    fun children(folderId: String): List<Entry>
}

/** Bounds of a folder walk: how deep, how many files, how many bytes. */
data class WalkLimits(
    val maxDepth: Int = 32,
    val maxFiles: Int = 10_000,
    val maxBytes: Long = 256L shl 30,
    /** Folders listed at most (each costs a provider query). */
    val maxFolders: Int = 2_000,
)

/** A file found by a walk: [relativePath] starts with the root folder's name (`Photos/2024/a.jpg`). */
data class WalkedFile(val id: String, val relativePath: String, val size: Long?)

/**
 * What a walk found: the files to send, what was left out and why ([skipped], messages for
 * people, at most [FolderWalk.MAX_MESSAGES]), and why it stopped early ([stoppedBecause]) when a
 * bound was reached.
 */
data class WalkResult(val files: List<WalkedFile>, val skipped: List<String>, val stoppedBecause: String?) {
    val totalBytes: Long get() = files.sumOf { it.size ?: 0 }
}

/**
 * Walks a [DocumentTree] from its root into the files to send with their relative paths, within
 * [WalkLimits]. Every name is made a safe path component ([safeName]: no separators, no `.` or
 * `..`, no control or invisible characters, at most [MAX_NAME_BYTES] bytes of UTF-8), and names
 * that clash in a folder once made safe are numbered (`a (2).txt`): the paths are plain relative
 * paths the receiver takes as they are (and checks again). A folder that cannot be listed is
 * skipped with a message; the walk goes on.
 */
object FolderWalk {
    /** Longest path component, in bytes of UTF-8 (file systems take 255). */
    const val MAX_NAME_BYTES = 200
    /** Most messages about skipped items kept (then one saying how many more). */
    const val MAX_MESSAGES = 20

    fun walk(tree: DocumentTree, rootId: String, rootName: String, limits: WalkLimits = WalkLimits()): WalkResult {
        val files = ArrayList<WalkedFile>()
        val messages = ArrayList<String>()
        var more = 0
        fun skip(message: String) {
            if (messages.size < MAX_MESSAGES) messages += message else more++
        }
        var bytes = 0L
        var folders = 0
        var stopped: String? = null
        val seen = HashSet<String>()
        // Depth first, in the provider's order; each entry: (folder id, its relative path, its depth).
        val stack = ArrayList<Triple<String, String, Int>>()
        stack.add(Triple(rootId, safeName(rootName).ifEmpty { "Folder" }, 0))
        walk@ while (stack.isNotEmpty()) {
            val (id, path, depth) = stack.removeAt(stack.lastIndex)
            if (!seen.add(id)) continue
            if (++folders > limits.maxFolders) {
                stopped = "more than ${limits.maxFolders} folders"
                break
            }
            val children = try {
                tree.children(id)
            } catch (e: Exception) {
                skip("${shownName(path)}: cannot be read (${shownName(e.message ?: e::class.java.simpleName)})")
                continue
            }
            val taken = HashSet<String>()
            val subfolders = ArrayList<Triple<String, String, Int>>()
            for (c in children) {
                val name = unique(safeName(c.name).ifEmpty { "_" }, taken)
                val childPath = "$path/$name"
                if (c.folder) {
                    if (depth + 1 > limits.maxDepth) skip("${shownName(childPath)}: deeper than ${limits.maxDepth} folders, left out")
                    else subfolders += Triple(c.id, childPath, depth + 1)
                    continue
                }
                if (files.size >= limits.maxFiles) {
                    stopped = "more than ${limits.maxFiles} files"
                    break@walk
                }
                val size = c.size?.takeIf { it >= 0 }
                if (size != null && bytes + size > limits.maxBytes) {
                    stopped = "more than ${limits.maxBytes / (1L shl 30)} GB"
                    break@walk
                }
                bytes += size ?: 0
                files += WalkedFile(c.id, childPath, size)
            }
            // Pushed in reverse: the first subfolder is walked first.
            subfolders.asReversed().forEach { stack.add(it) }
        }
        if (more > 0) messages += "and $more more left out"
        return WalkResult(files, messages, stopped)
    }

    /**
     * [name] as one safe path component: separators, control characters (line breaks included)
     * and invisible format characters become `_`, surrounding spaces and dots of a Windows-hostile
     * end are trimmed, `.`, `..` (any run of dots) become `_`, cut to [MAX_NAME_BYTES] bytes of UTF-8 (keeping
     * the extension when it is short). Empty when nothing is left.
     */
    fun safeName(name: String): String {
        val sb = StringBuilder()
        for (ch in name) {
            val bad = ch == '/' || ch == '\\' || ch == '\u0000' || Character.isISOControl(ch) ||
                Character.getType(ch) == Character.FORMAT.toInt() || Character.getType(ch) == Character.LINE_SEPARATOR.toInt() ||
                Character.getType(ch) == Character.PARAGRAPH_SEPARATOR.toInt()
            sb.append(if (bad) '_' else ch)
        }
        val trimmed = sb.toString().trim()
        // ".", ".." and the like would name a folder, not a file.
        if (trimmed.isNotEmpty() && trimmed.all { it == '.' }) return "_"
        val s = trimmed.trimEnd('.', ' ')
        if (s.toByteArray().size <= MAX_NAME_BYTES) return s
        val dot = s.lastIndexOf('.')
        val ext = if (dot > 0 && s.length - dot <= 16) s.substring(dot) else ""
        var stem = s.substring(0, s.length - ext.length)
        while ((stem + ext).toByteArray().size > MAX_NAME_BYTES && stem.isNotEmpty()) {
            stem = stem.dropLast(1)
            // Never end between the two halves of a surrogate pair.
            if (stem.isNotEmpty() && Character.isHighSurrogate(stem.last())) stem = stem.dropLast(1)
        }
        return stem + ext
    }

    /** [name], or `stem (2).ext`, `stem (3).ext`...: the first not in [taken] (case-insensitively), which it joins. */
    private fun unique(name: String, taken: MutableSet<String>): String {
        var candidate = name
        var n = 1
        while (!taken.add(candidate.lowercase())) {
            n++
            val dot = name.lastIndexOf('.')
            candidate = if (dot > 0) "${name.substring(0, dot)} ($n)${name.substring(dot)}" else "$name ($n)"
        }
        return candidate
    }
}
