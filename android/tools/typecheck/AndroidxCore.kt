// See AndroidxStubs.kt.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.core.app

import android.app.Notification
import android.app.PendingIntent
import android.app.Service
import android.content.Context

class NotificationCompat {
    open class Style
    class BigTextStyle : Style() {
        fun bigText(cs: CharSequence?): BigTextStyle = throw RuntimeException()
    }

    class Builder(context: Context, channelId: String) {
        fun setSmallIcon(icon: Int): Builder = throw RuntimeException()
        fun setContentTitle(title: CharSequence?): Builder = throw RuntimeException()
        fun setContentText(text: CharSequence?): Builder = throw RuntimeException()
        fun setSubText(text: CharSequence?): Builder = throw RuntimeException()
        fun setStyle(style: Style?): Builder = throw RuntimeException()
        fun setOngoing(ongoing: Boolean): Builder = throw RuntimeException()
        fun setOnlyAlertOnce(onlyAlertOnce: Boolean): Builder = throw RuntimeException()
        fun setSilent(silent: Boolean): Builder = throw RuntimeException()
        fun setShowWhen(show: Boolean): Builder = throw RuntimeException()
        fun setWhen(`when`: Long): Builder = throw RuntimeException()
        fun setAutoCancel(autoCancel: Boolean): Builder = throw RuntimeException()
        fun setCategory(category: String?): Builder = throw RuntimeException()
        fun setPriority(pri: Int): Builder = throw RuntimeException()
        fun setProgress(max: Int, progress: Int, indeterminate: Boolean): Builder = throw RuntimeException()
        fun setContentIntent(intent: PendingIntent?): Builder = throw RuntimeException()
        fun setDeleteIntent(intent: PendingIntent?): Builder = throw RuntimeException()
        fun setForegroundServiceBehavior(behavior: Int): Builder = throw RuntimeException()
        fun addAction(icon: Int, title: CharSequence?, intent: PendingIntent?): Builder = throw RuntimeException()
        fun build(): Notification = throw RuntimeException()
    }

    companion object {
        const val CATEGORY_MESSAGE = "msg"
        const val CATEGORY_PROGRESS = "progress"
        const val CATEGORY_SERVICE = "service"
        const val CATEGORY_STATUS = "status"
        const val PRIORITY_HIGH = 1
        const val FOREGROUND_SERVICE_IMMEDIATE = 1
    }
}

class NotificationChannelCompat private constructor() {
    class Builder(id: String, importance: Int) {
        fun setName(name: CharSequence?): Builder = throw RuntimeException()
        fun setDescription(description: String?): Builder = throw RuntimeException()
        fun setShowBadge(showBadge: Boolean): Builder = throw RuntimeException()
        fun build(): NotificationChannelCompat = throw RuntimeException()
    }
}

class NotificationManagerCompat private constructor() {
    fun notify(tag: String?, id: Int, notification: Notification): Unit = throw RuntimeException()
    fun notify(id: Int, notification: Notification): Unit = throw RuntimeException()
    fun cancel(id: Int): Unit = throw RuntimeException()
    fun cancel(tag: String?, id: Int): Unit = throw RuntimeException()
    fun areNotificationsEnabled(): Boolean = throw RuntimeException()
    fun createNotificationChannelsCompat(channels: List<NotificationChannelCompat>): Unit = throw RuntimeException()

    companion object {
        const val IMPORTANCE_DEFAULT = 3
        const val IMPORTANCE_HIGH = 4
        const val IMPORTANCE_LOW = 2

        @JvmStatic
        fun from(context: Context): NotificationManagerCompat = throw RuntimeException()
    }
}

object ServiceCompat {
    const val STOP_FOREGROUND_REMOVE = 1

    @JvmStatic
    fun startForeground(service: Service, id: Int, notification: Notification, foregroundServiceType: Int): Unit = throw RuntimeException()

    @JvmStatic
    fun stopForeground(service: Service, flags: Int): Unit = throw RuntimeException()
}
