// See AppCompose.kt.
@file:Suppress("unused", "UNUSED_PARAMETER")

package app.ferry.android.ui.theme

fun FerryTheme(content: () -> Unit): Unit = throw RuntimeException()
