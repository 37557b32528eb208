package app.ferry.android.platform

import android.content.Context
import com.google.mlkit.vision.barcode.common.Barcode
import com.google.mlkit.vision.codescanner.GmsBarcodeScannerOptions
import com.google.mlkit.vision.codescanner.GmsBarcodeScanning

/**
 * Scans a QR code with Google's code scanner (Play services): a system screen, no camera
 * permission for Ferry, QR codes only. [onResult] gets the code's text, or null when nothing was
 * scanned (cancelled, or the scanner is not available: the message tells, for [onError]).
 * Called on the main thread.
 */
object CodeScanner {
    fun scan(context: Context, onResult: (String?) -> Unit, onError: (String) -> Unit) {
        val options = GmsBarcodeScannerOptions.Builder()
            .setBarcodeFormats(Barcode.FORMAT_QR_CODE)
            .build()
        try {
            GmsBarcodeScanning.getClient(context, options).startScan()
                .addOnSuccessListener { code -> onResult(code.rawValue) }
                .addOnCanceledListener { onResult(null) }
                .addOnFailureListener { e -> onError(e.message ?: e::class.java.simpleName) }
        } catch (e: RuntimeException) {
            // No Play services on this device: the code can still be pasted, or opened from the camera.
            onError(e.message ?: e::class.java.simpleName)
        }
    }
}
