package app.ferry.android.platform

import android.content.ActivityNotFoundException
import android.content.ContentResolver
import android.content.Context
import android.content.Intent
import android.net.Uri
import android.provider.OpenableColumns
import android.util.Log
import android.webkit.MimeTypeMap
import androidx.core.content.FileProvider
import app.ferry.android.R
import app.ferry.core.SendItem
import java.io.File
import java.io.FileNotFoundException

/** Documents to send: opened where they are (a descriptor Ferry takes over), never copied. */
object SharedContent {
    /**
     * Opens [uri] for sending. Blocking (the provider may fetch it): call it off the main thread.
     * Throws, with a message for people, when it cannot be read.
     */
    fun open(context: Context, uri: Uri): SendItem.Fd {
        val resolver = context.contentResolver
        if (uri.scheme == ContentResolver.SCHEME_FILE) checkNotPrivate(context, uri)
        var name: String? = null
        var size: Long? = null
        try {
            resolver.query(uri, arrayOf(OpenableColumns.DISPLAY_NAME, OpenableColumns.SIZE), null, null, null)?.use { c ->
                if (c.moveToFirst()) {
                    val n = c.getColumnIndex(OpenableColumns.DISPLAY_NAME)
                    if (n >= 0 && !c.isNull(n)) name = c.getString(n)
                    val s = c.getColumnIndex(OpenableColumns.SIZE)
                    if (s >= 0 && !c.isNull(s)) size = c.getLong(s)
                }
            }
        } catch (e: RuntimeException) {
            // Some providers answer no queries; the name then comes from the URI.
            Log.w("Ferry", "no metadata for $uri", e)
        }
        val mime = runCatching { resolver.getType(uri) }.getOrNull()
        val pfd = resolver.openFileDescriptor(uri, "r")
            ?: throw FileNotFoundException(context.getString(R.string.error_open_file, name ?: fallbackName(uri)))
        // A size of 0 often means "unknown"; a regular file's real size comes from its descriptor.
        return SendItem.Fd(pfd.detachFd(), name?.takeIf { it.isNotBlank() } ?: fallbackName(uri), size?.takeIf { it > 0 }?.toULong(), mime)
    }

    /** A name for [uri] in messages, without asking its provider. */
    fun fallbackName(uri: Uri): String = uri.lastPathSegment?.substringAfterLast('/')?.takeIf { it.isNotBlank() } ?: "file"

    /**
     * Another app can share a `file://` URI into this app's private files (its identity key):
     * those are refused, whatever the path says after resolving links.
     */
    private fun checkNotPrivate(context: Context, uri: Uri) {
        val file = File(uri.path ?: throw FileNotFoundException(uri.toString())).canonicalFile
        val info = context.applicationInfo
        val privateDirs = listOfNotNull(info.dataDir, info.deviceProtectedDataDir).map { File(it).canonicalFile }
        if (privateDirs.any { file.startsWith(it) }) throw SecurityException(context.getString(R.string.error_open_private))
    }
}

/** Files that arrived: opened in the app the user has for their type. */
object ReceivedFiles {
    /** The content URI of a saved file ([location] is a content URI, or a path from Android 8/9). */
    fun uriOf(context: Context, location: String): Uri? = when {
        location.startsWith("content:") -> Uri.parse(location)
        location.startsWith("/") -> try {
            FileProvider.getUriForFile(context, AndroidDocumentSaver.fileProviderAuthority(context), File(location))
        } catch (_: IllegalArgumentException) {
            null // outside the folders the provider serves
        }
        else -> null
    }

    /** Opens it with ACTION_VIEW. False when it is gone or no app can open it. */
    fun open(context: Context, location: String, name: String? = null): Boolean {
        val uri = uriOf(context, location) ?: return false
        val type = runCatching { context.contentResolver.getType(uri) }.getOrNull()
            ?: name?.substringAfterLast('.', "")?.lowercase()?.let { MimeTypeMap.getSingleton().getMimeTypeFromExtension(it) }
            ?: "application/octet-stream"
        val intent = Intent(Intent.ACTION_VIEW)
            .setDataAndType(uri, type)
            .addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION)
        if (context !is android.app.Activity) intent.addFlags(Intent.FLAG_ACTIVITY_NEW_TASK)
        return try {
            context.startActivity(intent)
            true
        } catch (_: ActivityNotFoundException) {
            false
        } catch (e: SecurityException) {
            Log.w("Ferry", "cannot grant $uri", e)
            false
        }
    }
}
