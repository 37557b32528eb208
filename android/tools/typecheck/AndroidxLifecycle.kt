// See AndroidxStubs.kt.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.lifecycle

import android.app.Application
import android.app.Service
import android.content.Intent
import android.os.IBinder
import kotlinx.coroutines.CoroutineScope

interface LifecycleObserver

abstract class Lifecycle {
    abstract fun addObserver(observer: LifecycleObserver)
    abstract fun removeObserver(observer: LifecycleObserver)
}

interface LifecycleOwner {
    val lifecycle: Lifecycle
}

interface DefaultLifecycleObserver : LifecycleObserver {
    fun onCreate(owner: LifecycleOwner) {}
    fun onStart(owner: LifecycleOwner) {}
    fun onResume(owner: LifecycleOwner) {}
    fun onPause(owner: LifecycleOwner) {}
    fun onStop(owner: LifecycleOwner) {}
    fun onDestroy(owner: LifecycleOwner) {}
}

abstract class LifecycleCoroutineScope : CoroutineScope

val LifecycleOwner.lifecycleScope: LifecycleCoroutineScope get() = throw RuntimeException()

open class LifecycleService : Service(), LifecycleOwner {
    override val lifecycle: Lifecycle get() = throw RuntimeException()
    override fun onCreate() {}
    override fun onBind(intent: Intent): IBinder? = throw RuntimeException()
    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int = throw RuntimeException()
    override fun onDestroy() {}
}

abstract class ViewModel

open class AndroidViewModel(application: Application) : ViewModel() {
    open fun <T : Application> getApplication(): T = throw RuntimeException()
}

val ViewModel.viewModelScope: CoroutineScope get() = throw RuntimeException()
