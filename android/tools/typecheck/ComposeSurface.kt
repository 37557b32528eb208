// See AndroidxActivity.kt: the Compose entry points the activities call, as plain functions.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.activity.compose

fun androidx.activity.ComponentActivity.setContent(content: () -> Unit): Unit = throw RuntimeException()
