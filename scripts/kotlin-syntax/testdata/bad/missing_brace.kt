// expect-error: 9
package bad

class Box(val x: Int) {
    fun twice(): Int {
        return x * 2

    fun half(): Int = x / 2
}
