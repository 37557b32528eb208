package app.ferry.android.ui

import androidx.compose.foundation.Canvas
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.geometry.Size
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import app.ferry.logic.QrImage

/**
 * A QR code drawn module by module ([QrImage], its quiet zone included): black on white whatever
 * the theme (scanners read dark on light), square.
 */
@Composable
fun QrCode(qr: QrImage, description: String, modifier: Modifier = Modifier) {
    Canvas(modifier.aspectRatio(1f).semantics { contentDescription = description }) {
        val cell = size.minDimension / qr.size
        drawRect(Color.White, size = Size(cell * qr.size, cell * qr.size))
        for (y in 0 until qr.size) {
            for (x in 0 until qr.size) {
                // A hair wider than a module, so that no seam shows between neighbours.
                if (qr.isDark(x, y)) drawRect(Color.Black, topLeft = Offset(x * cell, y * cell), size = Size(cell + 0.5f, cell + 0.5f))
            }
        }
    }
}
