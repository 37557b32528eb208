// expect-error: 6
package bad

/* this comment never ends
fun f() = 1
