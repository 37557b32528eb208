// expect-error: 5
package bad

fun greet(name: String): String {
    val s = "hello, $name
    return s
}
