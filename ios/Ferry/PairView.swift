import FerryKit
import SwiftUI
import UIKit
import VisionKit

/// Pairing by QR code: this device's code to scan, and scanning (or pasting) another's. Pairing
/// trusts the other device after it proved the code's fingerprint (FerryKit's `pair(code:)`), so
/// devices on networks that block discovery find each other with one scan, verified.
struct PairView: View {
    @Environment(FerryModel.self) private var model
    @State private var pasted = ""
    @State private var result: PairingResult?
    @State private var pairing = false
    @State private var scanning = false
    /// This device's code and its QR code, made when the view appears and when Ferry restarts.
    @State private var own: OwnCode?

    private struct OwnCode {
        let text: String
        let matrix: QRMatrix
    }

    var body: some View {
        List {
            Section {
                if let own {
                    QRCodeView(matrix: own.matrix, label: "This device's pairing code")
                        .frame(maxWidth: 280)
                        .frame(maxWidth: .infinity)
                        .padding(.vertical, 8)
                    ShareLink(item: own.text) {
                        Label("Share Code as Text", systemImage: "square.and.arrow.up")
                    }
                } else {
                    Text(model.nodeState.isRunning
                         ? "This device has no network address to put in a code. Connect to Wi-Fi."
                         : "Ferry is not running.")
                        .foregroundStyle(.secondary)
                }
            } header: {
                Text("This device")
            } footer: {
                Text("Scan this code with Ferry on the other device (or its Camera app), or with `ferry trust add` on a computer.")
            }

            Section {
                if Self.canScan {
                    Button {
                        scanning = true
                    } label: {
                        Label("Scan a Code", systemImage: "qrcode.viewfinder")
                    }
                } else {
                    Text("Scanning needs a camera. You can also open a code with the Camera app, or paste it below.")
                        .font(.callout)
                        .foregroundStyle(.secondary)
                }
                TextField("ferry://pair?…", text: $pasted, axis: .vertical)
                    .textInputAutocapitalization(.never)
                    .autocorrectionDisabled()
                    .font(.system(.footnote, design: .monospaced))
                Button("Pair") { pair(pasted) }
                    .disabled(pasted.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || pairing)
                if pairing {
                    ProgressView("Asking the device…")
                }
                if let result {
                    Label(result.message, systemImage: result.succeeded ? "checkmark.seal.fill" : "exclamationmark.triangle.fill")
                        .foregroundStyle(result.succeeded ? Color.green : Color.orange)
                }
            } header: {
                Text("Another device")
            } footer: {
                Text("Ferry asks the device at the code's addresses to prove the code's fingerprint, and trusts it only then.")
            }
        }
        .navigationTitle("Pair with QR Code")
        .onChange(of: model.nodeState, initial: true) {
            own = model.pairingCode().flatMap { code in QRMatrix(text: code).map { OwnCode(text: code, matrix: $0) } }
        }
        .navigationDestination(isPresented: $scanning) {
            QRScannerView { code in
                scanning = false
                pair(code)
            }
            .ignoresSafeArea()
            .navigationTitle("Scan a Code")
            .navigationBarTitleDisplayMode(.inline)
        }
    }

    /// VisionKit's scanner runs on this device (a camera, iOS allows it).
    static var canScan: Bool {
        DataScannerViewController.isSupported && DataScannerViewController.isAvailable
    }

    private func pair(_ code: String) {
        pairing = true
        result = nil
        Task {
            result = await model.pair(code: code)
            pairing = false
        }
    }
}

/// VisionKit's live scanner, QR codes only: the first Ferry pairing code it sees is handed on
/// once (other QR codes are ignored).
struct QRScannerView: UIViewControllerRepresentable {
    let onCode: @MainActor (String) -> Void

    func makeCoordinator() -> Coordinator {
        Coordinator(onCode: onCode)
    }

    func makeUIViewController(context: Context) -> DataScannerViewController {
        let scanner = DataScannerViewController(recognizedDataTypes: [.barcode(symbologies: [.qr])], qualityLevel: .balanced,
                                                recognizesMultipleItems: false, isHighFrameRateTrackingEnabled: false,
                                                isPinchToZoomEnabled: true, isGuidanceEnabled: true, isHighlightingEnabled: true)
        scanner.delegate = context.coordinator
        return scanner
    }

    func updateUIViewController(_ scanner: DataScannerViewController, context: Context) {
        guard !scanner.isScanning, !context.coordinator.done else { return }
        try? scanner.startScanning()
    }

    static func dismantleUIViewController(_ scanner: DataScannerViewController, coordinator: Coordinator) {
        scanner.stopScanning()
    }

    @MainActor
    final class Coordinator: NSObject, DataScannerViewControllerDelegate {
        private let onCode: @MainActor (String) -> Void
        private(set) var done = false

        init(onCode: @escaping @MainActor (String) -> Void) {
            self.onCode = onCode
        }

        func dataScanner(_ dataScanner: DataScannerViewController, didAdd addedItems: [RecognizedItem],
                         allItems: [RecognizedItem]) {
            for item in addedItems {
                guard case let .barcode(barcode) = item, let text = barcode.payloadStringValue,
                      FerryLink.isPairingCode(text), !done else { continue }
                done = true
                dataScanner.stopScanning()
                onCode(text)
                return
            }
        }
    }
}
