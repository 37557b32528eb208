package app.ferry.android

import android.app.PendingIntent
import android.content.BroadcastReceiver
import android.content.ClipData
import android.content.ClipboardManager
import android.content.Context
import android.content.Intent
import android.os.Build
import android.util.Log
import android.widget.Toast
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch

/**
 * The buttons of Ferry's notifications. Answers go to the controller off the main thread
 * (they reach the node through JNI); the broadcast is kept alive until they are done.
 */
class NotificationActionReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        val app = context.applicationContext as FerryApp
        val controller = app.controller
        when (intent.action) {
            ACTION_COPY_TEXT -> {
                val id = intent.getLongExtra(EXTRA_TEXT_ID, -1)
                val text = controller.texts.value.firstOrNull { it.id == id }
                if (text == null) {
                    Toast.makeText(context, R.string.text_gone, Toast.LENGTH_SHORT).show()
                } else {
                    val clipboard = context.getSystemService(ClipboardManager::class.java)
                    clipboard?.setPrimaryClip(ClipData.newPlainText(context.getString(R.string.clip_label, text.senderAlias), text.text))
                    // Android 13+ confirms copies itself.
                    if (Build.VERSION.SDK_INT < Build.VERSION_CODES.TIRAMISU) {
                        Toast.makeText(context, R.string.copied, Toast.LENGTH_SHORT).show()
                    }
                    controller.dismissText(id)
                }
                Notifications.cancelText(context, id)
            }
            ACTION_DISMISS_TEXT -> controller.dismissText(intent.getLongExtra(EXTRA_TEXT_ID, -1))
            ACTION_DISMISS_PIN_WARNING -> controller.dismissPinWarning()
            ACTION_ACCEPT, ACTION_DECLINE, ACTION_CANCEL, ACTION_STOP_RECEIVING -> {
                val pending = goAsync()
                app.scope.launch(Dispatchers.IO) {
                    try {
                        answer(context, app, intent)
                    } catch (e: Exception) {
                        // The request is gone (answered in the app, withdrawn, or the node stopped).
                        Log.w(TAG, "notification action ${intent.action} failed", e)
                    } finally {
                        pending.finish()
                    }
                }
            }
        }
    }

    private fun answer(context: Context, app: FerryApp, intent: Intent) {
        val controller = app.controller
        when (intent.action) {
            ACTION_ACCEPT, ACTION_DECLINE -> {
                val session = intent.getStringExtra(EXTRA_SESSION) ?: return
                Notifications.cancelRequest(context, session)
                if (controller.requests.value.none { it.sessionId == session }) return
                if (intent.action == ACTION_ACCEPT) controller.accept(session) else controller.decline(session)
            }
            ACTION_CANCEL -> intent.getStringArrayListExtra(EXTRA_TRANSFERS)?.forEach(controller::cancel)
            ACTION_STOP_RECEIVING -> controller.updateSettings { it.copy(receiving = false) }
        }
    }

    companion object {
        private const val TAG = "Ferry"
        const val ACTION_ACCEPT = "app.ferry.android.action.ACCEPT"
        const val ACTION_DECLINE = "app.ferry.android.action.DECLINE"
        const val ACTION_CANCEL = "app.ferry.android.action.CANCEL"
        const val ACTION_COPY_TEXT = "app.ferry.android.action.COPY_TEXT"
        const val ACTION_DISMISS_TEXT = "app.ferry.android.action.DISMISS_TEXT"
        const val ACTION_DISMISS_PIN_WARNING = "app.ferry.android.action.DISMISS_PIN_WARNING"
        const val ACTION_STOP_RECEIVING = "app.ferry.android.action.STOP_RECEIVING"

        const val EXTRA_SESSION = "app.ferry.android.extra.SESSION"
        const val EXTRA_TRANSFERS = "app.ferry.android.extra.TRANSFERS"
        const val EXTRA_TEXT_ID = "app.ferry.android.extra.TEXT_ID"

        /** An immutable broadcast to this receiver; [key] keeps intents for different items apart. */
        fun pendingIntent(context: Context, action: String, key: String, extras: Intent.() -> Unit = {}): PendingIntent {
            val intent = Intent(context, NotificationActionReceiver::class.java).setAction(action).apply(extras)
            return PendingIntent.getBroadcast(
                context,
                (action + key).hashCode(),
                intent,
                PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
            )
        }
    }
}
