// expect-error: 6
package bad

fun f(x: Int) = when (x) {
    1 -> "one"
    2 => "two"
    else -> "many"
}
