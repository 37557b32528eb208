import FerryKit
import SwiftUI

/// A QR code drawn from FerryKit's modules (no CoreImage): dark on light always, whatever the
/// appearance (scanners read dark-on-light codes best), with its 4-module light margin, each
/// module a whole number of points so that the edges stay sharp.
struct QRCodeView: View {
    let matrix: QRMatrix
    var label: String = "QR code"

    var body: some View {
        Canvas { context, size in
            let side = CGFloat(matrix.side)
            let module = max(floor(min(size.width, size.height) / side), 1)
            let edge = module * side
            let origin = CGPoint(x: ((size.width - edge) / 2).rounded(), y: ((size.height - edge) / 2).rounded())
            context.fill(Path(CGRect(origin: origin, size: CGSize(width: edge, height: edge))), with: .color(.white))
            var dark = Path()
            for run in matrix.darkRuns {
                dark.addRect(CGRect(x: origin.x + CGFloat(run.x) * module, y: origin.y + CGFloat(run.y) * module,
                                    width: CGFloat(run.length) * module, height: module))
            }
            context.fill(dark, with: .color(.black))
        }
        .aspectRatio(1, contentMode: .fit)
        .accessibilityElement()
        .accessibilityLabel(label)
    }
}
