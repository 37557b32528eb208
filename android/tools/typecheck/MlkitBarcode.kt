// See GmsCodeScanner.kt: the scanned code.
@file:Suppress("unused", "UNUSED_PARAMETER")

package com.google.mlkit.vision.barcode.common

class Barcode private constructor() {
    val rawValue: String? get() = throw RuntimeException()

    companion object {
        const val FORMAT_QR_CODE = 256
    }
}
