// Stubs of the androidx API (and the few Compose entry points) that the app's non-Compose files
// use, for scripts/android-typecheck.sh: signatures as androidx declares them (nullability from
// its annotations), bodies that throw. Not part of the app; the real libraries come from Maven
// in the Gradle build. Keep in step with android/gradle/libs.versions.toml when a call changes.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.annotation

@Target(AnnotationTarget.VALUE_PARAMETER, AnnotationTarget.FIELD, AnnotationTarget.PROPERTY, AnnotationTarget.FUNCTION)
annotation class StringRes

@Target(AnnotationTarget.CLASS, AnnotationTarget.FUNCTION, AnnotationTarget.CONSTRUCTOR, AnnotationTarget.FIELD, AnnotationTarget.FILE)
annotation class RequiresApi(val value: Int = 1, val api: Int = 1)
