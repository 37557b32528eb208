// See AndroidxStubs.kt.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.core.content

import android.content.Context
import android.content.Intent
import android.content.SharedPreferences
import android.net.Uri
import java.io.File

object ContextCompat {
    @JvmStatic
    fun checkSelfPermission(context: Context, permission: String): Int = throw RuntimeException()

    @JvmStatic
    fun startForegroundService(context: Context, intent: Intent): Unit = throw RuntimeException()
}

object IntentCompat {
    @JvmStatic
    fun <T> getParcelableExtra(`in`: Intent, name: String?, clazz: Class<T>): T? = throw RuntimeException()

    @JvmStatic
    fun <T> getParcelableArrayListExtra(`in`: Intent, name: String?, clazz: Class<out T>): java.util.ArrayList<T>? = throw RuntimeException()
}

open class FileProvider {
    companion object {
        @JvmStatic
        fun getUriForFile(context: Context, authority: String, file: File): Uri = throw RuntimeException()
    }
}

inline fun SharedPreferences.edit(commit: Boolean = false, action: SharedPreferences.Editor.() -> Unit): Unit = throw RuntimeException()
