package app.ferry.android.platform

import android.content.ContentResolver
import android.content.ContentValues
import android.content.Context
import android.media.MediaScannerConnection
import android.net.Uri
import android.os.Build
import android.os.Environment
import android.os.ParcelFileDescriptor
import android.provider.DocumentsContract
import android.provider.MediaStore
import android.webkit.MimeTypeMap
import androidx.annotation.RequiresApi
import androidx.core.content.FileProvider
import androidx.documentfile.provider.DocumentFile
import app.ferry.android.R
import app.ferry.core.OfferedFile
import app.ferry.logic.Destination
import app.ferry.logic.DocumentSaver
import app.ferry.logic.SavedDocument
import java.io.File
import java.io.FileNotFoundException
import java.io.IOException

/**
 * Puts incoming files where the user wants them, as documents other apps can see:
 * - [Destination.Downloads]: the Downloads collection, in a "Ferry" folder. Android 10+ uses
 *   MediaStore (pending until every byte arrived, so no half file is ever listed); Android 8–9
 *   write a hidden `.pending` file in the public Downloads folder, renamed and scanned when done.
 * - [Destination.Folder]: a folder the user picked (a Storage Access Framework tree).
 *
 * Names from the sender are untrusted: folders in them become sub-folders, but never anything
 * outside the destination.
 */
class AndroidDocumentSaver(context: Context) : DocumentSaver {
    private val context = context.applicationContext
    private val resolver: ContentResolver get() = context.contentResolver
    private val treeLock = Any()
    private val legacyLock = Any()

    override fun create(destination: Destination, sessionId: String, file: OfferedFile): SavedDocument {
        val path = SafePath.of(file.name)
        val mime = mimeTypeOf(path.name, file.mimeType)
        return when (destination) {
            Destination.Downloads ->
                if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) inMediaStore(path, mime) else inPublicDownloads(path, mime)
            is Destination.Folder -> inTree(Uri.parse(destination.uri), path, mime)
            // The controller saves to plain directories itself; it never asks the saver for one.
            is Destination.Directory -> throw IllegalStateException("a directory destination is not a document")
        }
    }

    @RequiresApi(Build.VERSION_CODES.Q)
    private fun inMediaStore(path: SafePath, mime: String): SavedDocument {
        val values = ContentValues().apply {
            put(MediaStore.MediaColumns.DISPLAY_NAME, path.name)
            put(MediaStore.MediaColumns.MIME_TYPE, mime)
            put(MediaStore.MediaColumns.RELATIVE_PATH, (listOf(Environment.DIRECTORY_DOWNLOADS, FOLDER) + path.dirs).joinToString("/", postfix = "/"))
            put(MediaStore.MediaColumns.IS_PENDING, 1)
        }
        val uri = resolver.insert(MediaStore.Downloads.getContentUri(MediaStore.VOLUME_EXTERNAL_PRIMARY), values)
            ?: throw IOException(context.getString(R.string.error_save_create, path.name))
        val fd = try {
            openForWriting(uri)
        } catch (e: Exception) {
            runCatching { resolver.delete(uri, null, null) }
            throw e
        }
        return Doc(
            fd = fd,
            location = uri.toString(),
            onPublish = {
                val done = ContentValues().apply { put(MediaStore.MediaColumns.IS_PENDING, 0) }
                resolver.update(uri, done, null, null)
            },
            onDiscard = { resolver.delete(uri, null, null) },
        )
    }

    @Suppress("DEPRECATION") // The public directory API is the way on Android 8 and 9 (only they come here).
    private fun inPublicDownloads(path: SafePath, mime: String): SavedDocument {
        val root = File(Environment.getExternalStoragePublicDirectory(Environment.DIRECTORY_DOWNLOADS), FOLDER)
        val dir = path.dirs.fold(root) { parent, name -> File(parent, name) }
        val (target, pending) = synchronized(legacyLock) {
            if (!dir.isDirectory && !dir.mkdirs()) throw IOException(context.getString(R.string.error_save_storage))
            reserve(dir, path.name)
        }
        // Before the descriptor is opened, so that nothing can throw once it is (it would leak).
        val location = try {
            FileProvider.getUriForFile(context, fileProviderAuthority(context), target).toString()
        } catch (_: IllegalArgumentException) {
            target.path // outside the provider's paths: kept as a path (opening it then fails politely)
        }
        val pfd = try {
            ParcelFileDescriptor.open(
                pending,
                ParcelFileDescriptor.MODE_WRITE_ONLY or ParcelFileDescriptor.MODE_CREATE or ParcelFileDescriptor.MODE_TRUNCATE,
            )
        } catch (e: IOException) {
            pending.delete()
            throw e
        }
        return Doc(
            fd = pfd.detachFd(),
            location = location,
            onPublish = {
                if (!pending.renameTo(target)) throw IOException("cannot rename $pending")
                MediaScannerConnection.scanFile(context, arrayOf(target.path), arrayOf(mime), null)
            },
            onDiscard = { pending.delete() },
        )
    }

    /** A free name in [dir] (`name`, `name (1)`, ...) and its hidden `.pending` file, created. */
    private fun reserve(dir: File, name: String): Pair<File, File> {
        val base = name.substringBeforeLast('.', name)
        val ext = name.substring(base.length)
        for (i in 0 until 1000) {
            val candidate = if (i == 0) name else "$base ($i)$ext"
            val target = File(dir, candidate)
            val pending = File(dir, ".$candidate.pending")
            if (!target.exists() && pending.createNewFile()) return target to pending
        }
        throw IOException(context.getString(R.string.error_save_create, name))
    }

    private fun inTree(treeUri: Uri, path: SafePath, mime: String): SavedDocument {
        try {
            val root = DocumentFile.fromTreeUri(context, treeUri)
            if (root == null || !root.canWrite()) throw IOException(context.getString(R.string.error_save_folder_gone))
            val dir = synchronized(treeLock) {
                path.dirs.fold(root) { parent, name ->
                    parent.findFile(name)?.takeIf { it.isDirectory }
                        ?: parent.createDirectory(name)
                        ?: throw IOException(context.getString(R.string.error_save_create, name))
                }
            }
            // The provider makes the name unique ("name (1).ext") when it is taken.
            val doc = DocumentsContract.createDocument(resolver, dir.uri, mime, path.name)
                ?: throw IOException(context.getString(R.string.error_save_create, path.name))
            val fd = try {
                openForWriting(doc)
            } catch (e: Exception) {
                runCatching { DocumentsContract.deleteDocument(resolver, doc) }
                throw e
            }
            return Doc(
                fd = fd,
                location = doc.toString(),
                onPublish = {},
                onDiscard = { DocumentsContract.deleteDocument(resolver, doc) },
            )
        } catch (e: SecurityException) {
            // The folder's permission was revoked (or the folder is gone).
            throw IOException(context.getString(R.string.error_save_folder_gone), e)
        }
    }

    private fun openForWriting(uri: Uri): Int =
        (resolver.openFileDescriptor(uri, "w") ?: throw FileNotFoundException(uri.toString())).detachFd()

    private class Doc(
        override val fd: Int,
        override val location: String,
        private val onPublish: () -> Unit,
        private val onDiscard: () -> Unit,
    ) : SavedDocument {
        override fun publish() = onPublish()
        override fun discard() = onDiscard()
    }

    companion object {
        /** The folder inside Downloads. */
        const val FOLDER = "Ferry"

        fun fileProviderAuthority(context: Context) = "${context.packageName}.files"

        /**
         * The type to save as. A name's known extension wins (providers would otherwise append
         * another one); an unknown extension is kept as it is with a neutral type; a name
         * without one takes the sender's type (and the provider adds the matching extension).
         */
        fun mimeTypeOf(name: String, offered: String): String {
            val ext = name.substringAfterLast('.', "").lowercase()
            if (ext.isNotEmpty()) return MimeTypeMap.getSingleton().getMimeTypeFromExtension(ext) ?: OCTET_STREAM
            return offered.takeIf { '/' in it && it.none(Char::isWhitespace) } ?: OCTET_STREAM
        }

        private const val OCTET_STREAM = "application/octet-stream"
    }
}

/** A sender's file name made safe: sub-folders without `.`/`..`, no control or reserved characters. */
internal data class SafePath(val dirs: List<String>, val name: String) {
    companion object {
        private const val MAX_DEPTH = 16
        private const val MAX_NAME = 200
        private const val RESERVED = "<>:\"|?*"

        fun of(raw: String): SafePath {
            val parts = raw.replace('\\', '/').split('/')
                .map(::clean)
                .filter { it.isNotEmpty() && it != "." && it != ".." }
            val name = parts.lastOrNull()?.let(::shorten) ?: "file"
            return SafePath(parts.dropLast(1).takeLast(MAX_DEPTH).map(::shorten), name)
        }

        private fun clean(segment: String): String =
            segment.map { c -> if (c.code < 0x20 || c.code == 0x7f || c in RESERVED) '_' else c }
                .joinToString("")
                .trim()
                .trimEnd('.')

        /** Keeps names within file system limits, the extension intact. */
        private fun shorten(name: String): String {
            if (name.length <= MAX_NAME) return name
            val ext = name.substringAfterLast('.', "").take(16)
            val keep = MAX_NAME - ext.length - 1
            return if (ext.isEmpty()) name.take(MAX_NAME) else name.take(keep) + "." + ext
        }
    }
}
