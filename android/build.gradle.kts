// Ferry for Android. The app (":app") is thin: screens, view models, the service and platform
// glue. The logic (":logic") is plain Kotlin over the ferry-ffi bindings and is tested on the
// JVM. Build the native library first: `make android-libs` (from the repository root).
plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.kotlin.jvm) apply false
    alias(libs.plugins.kotlin.compose) apply false
}
