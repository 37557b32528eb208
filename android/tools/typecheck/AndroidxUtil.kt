// See AndroidxStubs.kt.
package androidx.core.util

fun interface Consumer<T> {
    fun accept(t: T)
}
