// See AndroidxStubs.kt. The Compose calls of the two activities (setContent and the app's
// composables they show) are stubbed too, so that the activities are type-checked without Compose.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.activity

import android.content.Intent
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ViewModel

open class ComponentActivity : android.app.Activity(), LifecycleOwner {
    override val lifecycle: Lifecycle get() = throw RuntimeException()
    fun addOnNewIntentListener(listener: androidx.core.util.Consumer<Intent>): Unit = throw RuntimeException()
}

fun ComponentActivity.enableEdgeToEdge(): Unit = throw RuntimeException()

inline fun <reified VM : ViewModel> ComponentActivity.viewModels(): Lazy<VM> = throw RuntimeException()
