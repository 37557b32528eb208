// See AndroidxStubs.kt.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.documentfile.provider

import android.content.Context
import android.net.Uri

/** Java getters, as Kotlin sees them: properties. */
abstract class DocumentFile {
    abstract val uri: Uri
    abstract val name: String?
    abstract val isDirectory: Boolean
    abstract fun canWrite(): Boolean
    abstract fun findFile(displayName: String): DocumentFile?
    abstract fun createDirectory(displayName: String): DocumentFile?

    companion object {
        @JvmStatic
        fun fromTreeUri(context: Context, treeUri: Uri): DocumentFile? = throw RuntimeException()
    }
}
