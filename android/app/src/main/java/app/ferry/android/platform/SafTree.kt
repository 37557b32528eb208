package app.ferry.android.platform

import android.content.Context
import android.net.Uri
import android.provider.DocumentsContract
import app.ferry.core.SendItem
import app.ferry.logic.DocumentTree
import app.ferry.logic.WalkedFile
import java.io.FileNotFoundException
import java.io.IOException

/**
 * A folder the user picked (ACTION_OPEN_DOCUMENT_TREE) as a [DocumentTree] for
 * [app.ferry.logic.FolderWalk]: listed with DocumentsContract, each file opened in place as a
 * descriptor Ferry takes over. Blocking (providers may fetch): off the main thread.
 */
class SafTree(context: Context, private val treeUri: Uri) : DocumentTree {
    private val resolver = context.contentResolver

    /** The picked folder's document id. */
    val rootId: String = DocumentsContract.getTreeDocumentId(treeUri)

    /** The picked folder's name (the walk makes it safe), or "Folder" when the provider does not tell. */
    fun rootName(): String = try {
        resolver.query(
            DocumentsContract.buildDocumentUriUsingTree(treeUri, rootId),
            arrayOf(DocumentsContract.Document.COLUMN_DISPLAY_NAME), null, null, null,
        )?.use { c -> if (c.moveToFirst() && !c.isNull(0)) c.getString(0) else null }
    } catch (e: RuntimeException) {
        null
    } ?: "Folder"

    override fun children(folderId: String): List<DocumentTree.Entry> {
        val uri = DocumentsContract.buildChildDocumentsUriUsingTree(treeUri, folderId)
        val columns = arrayOf(
            DocumentsContract.Document.COLUMN_DOCUMENT_ID,
            DocumentsContract.Document.COLUMN_DISPLAY_NAME,
            DocumentsContract.Document.COLUMN_MIME_TYPE,
            DocumentsContract.Document.COLUMN_SIZE,
        )
        val cursor = resolver.query(uri, columns, null, null, null) ?: throw IOException("the provider did not answer")
        return cursor.use { c ->
            val out = ArrayList<DocumentTree.Entry>()
            // A folder of more entries than a send takes is not read to its end.
            while (c.moveToNext() && out.size < MAX_CHILDREN) {
                val id = if (c.isNull(0)) continue else c.getString(0)
                val name = if (c.isNull(1)) id.substringAfterLast('/') else c.getString(1)
                val folder = !c.isNull(2) && c.getString(2) == DocumentsContract.Document.MIME_TYPE_DIR
                val size = if (c.isNull(3)) null else c.getLong(3)
                out += DocumentTree.Entry(id, name, folder, size)
            }
            out
        }
    }

    /** Opens [file] for sending, named by its relative path (the receiver rebuilds the folder). */
    fun open(file: WalkedFile): SendItem.Fd {
        val uri = DocumentsContract.buildDocumentUriUsingTree(treeUri, file.id)
        val pfd = resolver.openFileDescriptor(uri, "r") ?: throw FileNotFoundException(file.relativePath)
        val mime = runCatching { resolver.getType(uri) }.getOrNull()
        // A size of 0 often means "unknown"; a regular file's real size comes from its descriptor.
        return SendItem.Fd(pfd.detachFd(), file.relativePath, file.size?.takeIf { it > 0 }?.toULong(), mime)
    }

    private companion object {
        const val MAX_CHILDREN = 20_000
    }
}
