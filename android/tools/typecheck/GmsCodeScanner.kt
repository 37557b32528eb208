// Hand-written stubs of Google's code scanner (com.google.android.gms:play-services-code-scanner)
// and the Task API it returns, as much as the app's CodeScanner.kt uses: the real library is an
// AAR from Google's Maven repository, not at hand here. Signatures as the library declares them.
@file:Suppress("unused", "UNUSED_PARAMETER")

package com.google.mlkit.vision.codescanner

import android.content.Context
import com.google.android.gms.tasks.Task
import com.google.mlkit.vision.barcode.common.Barcode

class GmsBarcodeScannerOptions private constructor() {
    class Builder {
        fun setBarcodeFormats(format: Int, vararg moreFormats: Int): Builder = throw RuntimeException()
        fun build(): GmsBarcodeScannerOptions = throw RuntimeException()
    }
}

interface GmsBarcodeScanner {
    fun startScan(): Task<Barcode>
}

object GmsBarcodeScanning {
    @JvmStatic
    fun getClient(context: Context, options: GmsBarcodeScannerOptions): GmsBarcodeScanner = throw RuntimeException()
}
