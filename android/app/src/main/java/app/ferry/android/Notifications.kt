package app.ferry.android

import android.Manifest
import android.annotation.SuppressLint
import android.app.Notification
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Build
import androidx.core.app.NotificationChannelCompat
import androidx.core.app.NotificationCompat
import androidx.core.app.NotificationManagerCompat
import androidx.core.content.ContextCompat
import app.ferry.android.NotificationActionReceiver.Companion.ACTION_ACCEPT
import app.ferry.android.NotificationActionReceiver.Companion.ACTION_CANCEL
import app.ferry.android.NotificationActionReceiver.Companion.ACTION_COPY_TEXT
import app.ferry.android.NotificationActionReceiver.Companion.ACTION_DECLINE
import app.ferry.android.NotificationActionReceiver.Companion.ACTION_DISMISS_PIN_WARNING
import app.ferry.android.NotificationActionReceiver.Companion.ACTION_DISMISS_TEXT
import app.ferry.android.NotificationActionReceiver.Companion.ACTION_STOP_RECEIVING
import app.ferry.android.NotificationActionReceiver.Companion.EXTRA_SESSION
import app.ferry.android.NotificationActionReceiver.Companion.EXTRA_TEXT_ID
import app.ferry.android.NotificationActionReceiver.Companion.EXTRA_TRANSFERS
import app.ferry.android.ui.Tab
import app.ferry.logic.Direction
import app.ferry.logic.HistoryEntry
import app.ferry.logic.NodeState
import app.ferry.logic.PendingRequest
import app.ferry.logic.PinWarning
import app.ferry.logic.QuickSaveNotice
import app.ferry.logic.ReceivedText
import app.ferry.logic.Transfer
import app.ferry.logic.TransferState
import app.ferry.logic.TransferText
import app.ferry.logic.shownName
import app.ferry.logic.shownText

/** What the ongoing notification shows; compared, so that it is only rebuilt when it changes. */
data class ServiceStatus(val node: NodeState, val alias: String, val progress: Progress?) {
    data class Progress(
        val transferIds: List<String>,
        val direction: Direction,
        val peerAlias: String,
        val waiting: Boolean,
        val filesDone: Int,
        val filesTotal: Int,
        val bytesDone: Long,
        val bytesTotal: Long,
        /** The one running transfer (speed, time left, resumed, skipped), or null when several run. */
        val single: Transfer? = null,
    ) {
        val count: Int get() = transferIds.size
        val percent: Int? get() = if (bytesTotal > 0) (bytesDone * 100 / bytesTotal).toInt().coerceIn(0, 100) else null
    }

    companion object {
        fun progressOf(transfers: List<Transfer>): Progress? {
            val running = transfers.filter { !it.state.finished }
            val first = running.firstOrNull() ?: return null
            return Progress(
                transferIds = running.map { it.id },
                direction = first.direction,
                peerAlias = shownName(first.peerAlias),
                waiting = running.all { it.state == TransferState.WAITING },
                filesDone = running.sumOf { it.filesDone },
                filesTotal = running.sumOf { it.fileNames.size },
                bytesDone = running.sumOf { it.bytesDone },
                bytesTotal = running.sumOf { it.bytesTotal },
                single = running.singleOrNull(),
            )
        }
    }
}

/** Channels, and the notifications of the receiving service. */
object Notifications {
    const val CHANNEL_REQUESTS = "requests"
    const val CHANNEL_TRANSFERS = "transfers"
    const val CHANNEL_TEXTS = "texts"
    const val CHANNEL_ALERTS = "alerts"

    /** The foreground service's notification: ready to receive, or the running transfers. */
    const val ID_STATUS = 1
    private const val ID_TIMEOUT = 2
    /** Wrong PINs sent to this device: one notification, updated with the count. */
    private const val ID_PIN_WARNING = 3
    /** Tagged by session id. */
    private const val ID_REQUEST = 10
    /** Tagged by transfer id. */
    private const val ID_RESULT = 11
    /** Tagged by text id. */
    private const val ID_TEXT = 12

    fun createChannels(context: Context) {
        NotificationManagerCompat.from(context).createNotificationChannelsCompat(
            listOf(
                NotificationChannelCompat.Builder(CHANNEL_REQUESTS, NotificationManagerCompat.IMPORTANCE_HIGH)
                    .setName(context.getString(R.string.channel_requests))
                    .setDescription(context.getString(R.string.channel_requests_description))
                    .build(),
                NotificationChannelCompat.Builder(CHANNEL_TRANSFERS, NotificationManagerCompat.IMPORTANCE_LOW)
                    .setName(context.getString(R.string.channel_transfers))
                    .setDescription(context.getString(R.string.channel_transfers_description))
                    .setShowBadge(false)
                    .build(),
                NotificationChannelCompat.Builder(CHANNEL_TEXTS, NotificationManagerCompat.IMPORTANCE_DEFAULT)
                    .setName(context.getString(R.string.channel_texts))
                    .setDescription(context.getString(R.string.channel_texts_description))
                    .build(),
                NotificationChannelCompat.Builder(CHANNEL_ALERTS, NotificationManagerCompat.IMPORTANCE_DEFAULT)
                    .setName(context.getString(R.string.channel_alerts))
                    .setDescription(context.getString(R.string.channel_alerts_description))
                    .build(),
            ),
        )
    }

    /** Request prompts of an earlier process: nothing waits for their answer any more. */
    fun cancelStaleRequests(context: Context) {
        val manager = context.getSystemService(NotificationManager::class.java) ?: return
        manager.activeNotifications.filter { it.id == ID_REQUEST }.forEach { manager.cancel(it.tag, it.id) }
    }

    // ---- the service's ongoing notification ---------------------------------------------

    fun status(context: Context, status: ServiceStatus): Notification {
        val builder = NotificationCompat.Builder(context, CHANNEL_TRANSFERS)
            .setSmallIcon(R.drawable.ic_notification)
            .setOngoing(true)
            .setOnlyAlertOnce(true)
            .setSilent(true)
            .setShowWhen(false)
            .setContentIntent(openApp(context, MainActivity.intent(context), "status"))
        val p = status.progress
        if (p == null) {
            builder.setCategory(NotificationCompat.CATEGORY_SERVICE)
            when (val node = status.node) {
                is NodeState.Running -> builder
                    .setContentTitle(context.getString(R.string.notify_ready_title))
                    .setContentText(context.getString(R.string.notify_ready_text, status.alias, node.port))
                is NodeState.Failed -> builder
                    .setContentTitle(context.getString(R.string.notify_failed_title))
                    .setContentText(node.message)
                    .setStyle(NotificationCompat.BigTextStyle().bigText(node.message))
                NodeState.Stopped -> builder.setContentTitle(context.getString(R.string.notify_starting_title))
            }
            builder.addAction(
                R.drawable.ic_notification,
                context.getString(R.string.action_stop_receiving),
                NotificationActionReceiver.pendingIntent(context, ACTION_STOP_RECEIVING, "stop"),
            )
        } else {
            val title = when {
                p.count > 1 -> context.resources.getQuantityString(R.plurals.notify_transfers_title, p.count, p.count)
                p.direction == Direction.RECEIVE -> context.getString(R.string.notify_receiving_title, p.peerAlias)
                p.waiting -> context.getString(R.string.notify_waiting_title, p.peerAlias)
                else -> context.getString(R.string.notify_sending_title, p.peerAlias)
            }
            val percent = p.percent
            builder
                .setCategory(NotificationCompat.CATEGORY_PROGRESS)
                .setForegroundServiceBehavior(NotificationCompat.FOREGROUND_SERVICE_IMMEDIATE)
                .setContentTitle(title)
                .setContentText(
                    context.getString(
                        R.string.notify_progress_text, p.filesDone, p.filesTotal,
                        context.formatSize(p.bytesDone), context.formatSize(p.bytesTotal),
                    ),
                )
                .setProgress(100, percent ?: 0, percent == null || p.waiting)
            // "2.1 MB/s · 1 min left", "Resumed at 12 MB" (decided in :logic).
            p.single?.let { t ->
                val size = { b: Long -> context.formatSize(b) }
                val line = listOfNotNull(TransferText.speed(t, size), TransferText.notes(t, size)).joinToString(" · ")
                if (line.isNotEmpty()) builder.setSubText(line)
            }
            builder
                .addAction(
                    R.drawable.ic_notification,
                    context.getString(R.string.action_cancel),
                    NotificationActionReceiver.pendingIntent(context, ACTION_CANCEL, p.transferIds.joinToString(",")) {
                        putStringArrayListExtra(EXTRA_TRANSFERS, ArrayList(p.transferIds))
                    },
                )
        }
        return builder.build()
    }

    fun postStatus(context: Context, current: ServiceStatus) = post(context, null, ID_STATUS, status(context, current))

    fun cancelStatus(context: Context) = NotificationManagerCompat.from(context).cancel(ID_STATUS)

    /** Android 15+ allows a data sync service 6 hours a day: it was stopped. */
    fun postTimeout(context: Context) {
        val n = NotificationCompat.Builder(context, CHANNEL_TRANSFERS)
            .setSmallIcon(R.drawable.ic_notification)
            .setContentTitle(context.getString(R.string.notify_timeout_title))
            .setContentText(context.getString(R.string.notify_timeout_text))
            .setStyle(NotificationCompat.BigTextStyle().bigText(context.getString(R.string.notify_timeout_text)))
            .setAutoCancel(true)
            .setContentIntent(openApp(context, MainActivity.intent(context), "timeout"))
            .build()
        post(context, null, ID_TIMEOUT, n)
    }

    // ---- requests ---------------------------------------------------------------------------

    fun postRequest(context: Context, r: PendingRequest) {
        val title = context.getString(R.string.notify_request_title, shownName(r.senderAlias), context.formatCounts(r.files.size, r.emptyFolders))
        val trust = context.getString(if (r.verified) R.string.request_verified else R.string.request_not_verified)
        val text = context.getString(R.string.notify_request_text, trust, context.formatSize(r.totalSize))
        val details = text + "\n" + context.getString(R.string.notify_request_code, formatCode(r.verificationCode))
        val n = NotificationCompat.Builder(context, CHANNEL_REQUESTS)
            .setSmallIcon(R.drawable.ic_notification)
            .setContentTitle(title)
            .setContentText(text)
            .setStyle(NotificationCompat.BigTextStyle().bigText(details))
            .setPriority(NotificationCompat.PRIORITY_HIGH)
            .setCategory(NotificationCompat.CATEGORY_MESSAGE)
            .setWhen(r.receivedAtMs)
            .setOnlyAlertOnce(true)
            .setAutoCancel(true)
            .setContentIntent(openApp(context, MainActivity.intent(context, request = r.sessionId), "request:" + r.sessionId))
            .addAction(
                R.drawable.ic_notification,
                context.getString(R.string.action_decline),
                NotificationActionReceiver.pendingIntent(context, ACTION_DECLINE, r.sessionId) { putExtra(EXTRA_SESSION, r.sessionId) },
            )
            .addAction(
                R.drawable.ic_notification,
                context.getString(R.string.action_accept),
                NotificationActionReceiver.pendingIntent(context, ACTION_ACCEPT, r.sessionId) { putExtra(EXTRA_SESSION, r.sessionId) },
            )
            .build()
        post(context, r.sessionId, ID_REQUEST, n)
    }

    fun cancelRequest(context: Context, sessionId: String) = NotificationManagerCompat.from(context).cancel(sessionId, ID_REQUEST)

    // ---- how transfers ended -----------------------------------------------------------------

    /** A finished transfer: received (with an Open action), sent, declined or failed. Cancelled ones say nothing. */
    fun postResult(context: Context, t: Transfer, entry: HistoryEntry?) {
        // A receive's entry lists the files saved; a send's lists every file offered.
        val files = if (t.direction == Direction.RECEIVE) entry?.files?.size?.takeIf { it > 0 } ?: t.filesDone else t.filesDone
        val (title, text) = when {
            t.state == TransferState.CANCELLED -> return
            t.state == TransferState.DECLINED ->
                context.getString(R.string.notify_declined_title, shownName(t.peerAlias)) to null
            t.state == TransferState.FAILED ->
                context.getString(if (t.direction == Direction.RECEIVE) R.string.notify_receive_failed_title else R.string.notify_send_failed_title, shownName(t.peerAlias)) to
                    (t.message?.let(::shownName) ?: context.getString(R.string.error_generic))
            t.direction == Direction.RECEIVE ->
                context.resources.getQuantityString(R.plurals.notify_received_title, files, files, shownName(t.peerAlias)) to
                    (t.message?.takeIf { t.filesFailed > 0 }?.let(::shownName) ?: t.fileNames.joinToString(", ") { shownName(it) })
            else ->
                context.resources.getQuantityString(R.plurals.notify_sent_title, files, files, shownName(t.peerAlias)) to
                    t.fileNames.joinToString(", ") { shownName(it) }
        }
        val single = entry?.files?.singleOrNull()?.takeIf { it.location != null }
        val open = if (single != null) {
            MainActivity.intent(context, open = single.location, openName = single.name)
        } else {
            MainActivity.intent(context, tab = Tab.HISTORY)
        }
        val builder = NotificationCompat.Builder(context, CHANNEL_TRANSFERS)
            .setSmallIcon(R.drawable.ic_notification)
            .setContentTitle(title)
            .setContentText(text)
            .setCategory(NotificationCompat.CATEGORY_STATUS)
            .setAutoCancel(true)
            .setContentIntent(openApp(context, MainActivity.intent(context, tab = Tab.HISTORY), "history:" + t.id))
        if (t.direction == Direction.RECEIVE && t.state == TransferState.DONE && files > 0) {
            builder.addAction(R.drawable.ic_notification, context.getString(R.string.action_open), openApp(context, open, "open:" + t.id))
        }
        post(context, t.id, ID_RESULT, builder.build())
    }

    /**
     * Files saved without asking (quick save): "Saved 3 files from Anna" ([QuickSaveNotice], the
     * alias shown safe), opening the history. Posted instead of [postResult]'s "Received".
     */
    fun postQuickSave(context: Context, n: QuickSaveNotice, files: List<String>) {
        val builder = NotificationCompat.Builder(context, CHANNEL_TRANSFERS)
            .setSmallIcon(R.drawable.ic_notification)
            .setContentTitle(n.title)
            .setContentText(files.joinToString(", ") { shownName(it) })
            .setCategory(NotificationCompat.CATEGORY_STATUS)
            .setAutoCancel(true)
            .setContentIntent(openApp(context, MainActivity.intent(context, tab = Tab.HISTORY), "history:" + n.transferId))
        post(context, n.transferId, ID_RESULT, builder.build())
    }

    // ---- texts -------------------------------------------------------------------------------

    fun postText(context: Context, t: ReceivedText) {
        val tag = t.id.toString()
        val title = context.getString(
            if (t.verified) R.string.notify_text_title else R.string.notify_text_title_unverified,
            shownName(t.senderAlias),
        )
        val n = NotificationCompat.Builder(context, CHANNEL_TEXTS)
            .setSmallIcon(R.drawable.ic_notification)
            .setContentTitle(title)
            .setContentText(shownText(t.text))
            .setStyle(NotificationCompat.BigTextStyle().bigText(shownText(t.text)))
            .setCategory(NotificationCompat.CATEGORY_MESSAGE)
            .setWhen(t.atMs)
            .setAutoCancel(true)
            .setContentIntent(openApp(context, MainActivity.intent(context), "text:$tag"))
            .setDeleteIntent(
                NotificationActionReceiver.pendingIntent(context, ACTION_DISMISS_TEXT, tag) { putExtra(EXTRA_TEXT_ID, t.id) },
            )
            .addAction(
                R.drawable.ic_notification,
                context.getString(R.string.action_copy),
                NotificationActionReceiver.pendingIntent(context, ACTION_COPY_TEXT, tag) { putExtra(EXTRA_TEXT_ID, t.id) },
            )
            .build()
        post(context, tag, ID_TEXT, n)
    }

    fun cancelText(context: Context, id: Long) = NotificationManagerCompat.from(context).cancel(id.toString(), ID_TEXT)

    // ---- wrong PINs ------------------------------------------------------------------------

    /**
     * Someone sent wrong PINs (the app is in the background): "Wrong PIN entered n times from
     * ADDRESS", and whether PIN checks are locked. Updated in place; it alerts once. Swiping it
     * away dismisses the warning in the app too.
     */
    fun postPinWarning(context: Context, w: PinWarning) {
        val title = context.resources.getQuantityString(R.plurals.pin_warning_title, w.failures, w.failures, w.shownAddress)
        val until = w.lockedUntilMs?.takeIf { w.locked(System.currentTimeMillis()) }
        val text = if (until != null) context.getString(R.string.pin_warning_locked, formatClock(until)) else context.getString(R.string.pin_warning_text)
        val n = NotificationCompat.Builder(context, CHANNEL_ALERTS)
            .setSmallIcon(R.drawable.ic_notification)
            .setContentTitle(title)
            .setContentText(text)
            .setStyle(NotificationCompat.BigTextStyle().bigText(text))
            .setCategory(NotificationCompat.CATEGORY_STATUS)
            .setWhen(w.atMs)
            .setOnlyAlertOnce(true)
            .setAutoCancel(true)
            .setContentIntent(openApp(context, MainActivity.intent(context), "pin-warning"))
            .setDeleteIntent(NotificationActionReceiver.pendingIntent(context, ACTION_DISMISS_PIN_WARNING, "pin-warning"))
            .build()
        post(context, null, ID_PIN_WARNING, n)
    }

    fun cancelPinWarning(context: Context) = NotificationManagerCompat.from(context).cancel(ID_PIN_WARNING)

    // ---- helpers -----------------------------------------------------------------------------

    /** Started from a notification, outside any activity: a new task (or the app's, brought forward). */
    private fun openApp(context: Context, intent: Intent, key: String): PendingIntent =
        PendingIntent.getActivity(
            context,
            key.hashCode(),
            intent.addFlags(Intent.FLAG_ACTIVITY_NEW_TASK),
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
        )

    // The permission is checked right above; lint does not follow the SDK guard.
    @SuppressLint("MissingPermission")
    private fun post(context: Context, tag: String?, id: Int, notification: Notification) {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU &&
            ContextCompat.checkSelfPermission(context, Manifest.permission.POST_NOTIFICATIONS) != PackageManager.PERMISSION_GRANTED
        ) {
            return
        }
        NotificationManagerCompat.from(context).notify(tag, id, notification)
    }
}
