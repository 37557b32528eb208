// expect-error: 4
package bad

fun (x: Int): Int = x + 1

fun ok() = 1
