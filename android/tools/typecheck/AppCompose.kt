// See AndroidxActivity.kt: the app's composables the activities show (the real ones are in the
// Compose files of android/app, which need the Compose compiler plugin).
@file:Suppress("unused", "UNUSED_PARAMETER")

package app.ferry.android.ui

fun MainScreen(vm: MainViewModel): Unit = throw RuntimeException()

fun ShareScreen(vm: ShareViewModel, onClose: () -> Unit): Unit = throw RuntimeException()
