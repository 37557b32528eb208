package app.ferry.android.ui

import app.ferry.android.FerryApp
import app.ferry.android.userMessage
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** "Pull to refresh" for a screen's device list: one scan at a time, errors to [report]. */
class Rescan(private val app: FerryApp, private val scope: CoroutineScope, private val report: (String) -> Unit) {
    private val _refreshing = MutableStateFlow(false)
    val refreshing: StateFlow<Boolean> = _refreshing.asStateFlow()

    fun start() {
        if (_refreshing.value) return
        _refreshing.value = true
        scope.launch {
            try {
                withContext(Dispatchers.IO) {
                    app.startNode()
                    app.controller.rescan()
                }
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                report(app.userMessage(e))
            } finally {
                _refreshing.value = false
            }
        }
    }
}
