// expect-error: 5
package bad

class C {
    fun (): Unit {}
}

fun ok() {
    val anonymous = fun(x: Int) = x + 1 // an anonymous function expression is fine
}
