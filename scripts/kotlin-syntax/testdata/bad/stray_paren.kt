// expect-error: 5
package bad

fun main() {
    println("hi"))
}
