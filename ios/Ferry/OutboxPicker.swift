import FerryKit
import SwiftUI

/// Picks the device for files and text shared from another app.
struct OutboxPicker: View {
    let batch: OutboxBatch
    @Environment(FerryModel.self) private var model
    @Environment(ShareInbox.self) private var inbox
    @State private var hold: DiscoveryHold?
    @State private var busy = false
    @State private var textSent = false
    @State private var errorMessage: String?

    var body: some View {
        NavigationStack {
            List {
                Section("Sharing") {
                    ForEach(batch.files, id: \.url) { file in
                        Label(file.name, systemImage: "doc")
                    }
                    if let text = batch.text {
                        Label(text, systemImage: "text.quote")
                            .lineLimit(3)
                    }
                }
                Section {
                    if model.devices.isEmpty {
                        NearbyStatusView()
                    }
                    ForEach(model.devices) { device in
                        Button {
                            send(to: device)
                        } label: {
                            DeviceRow(device: device)
                        }
                        .accessibilityHint("Sends what you shared to this device")
                    }
                } header: {
                    Text("Choose a device")
                } footer: {
                    if let errorMessage {
                        Label(errorMessage, systemImage: "exclamationmark.triangle.fill")
                            .foregroundStyle(.red)
                    }
                }
            }
            .disabled(busy)
            .refreshable { await model.rescan() }
            .navigationTitle("Send with Ferry")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel") { inbox.discard(batch) }
                }
            }
            .onAppear {
                if hold == nil { hold = model.holdDiscovery() }
            }
            .onDisappear {
                hold?.release()
                hold = nil
            }
        }
    }

    private func send(to device: NearbyDevice) {
        errorMessage = nil
        busy = true
        let batch = batch
        let inbox = inbox
        Task {
            defer { busy = false }
            do {
                // The text first: it is quick, and a failure leaves everything to try again.
                if let text = batch.text, !textSent {
                    guard try await model.sendText(to: device, text: text) else {
                        errorMessage = "\(shownName(device.alias)) did not show the message."
                        return
                    }
                    textSent = true
                }
                guard !batch.files.isEmpty else {
                    inbox.discard(batch)
                    return
                }
                try model.send(to: device, items: batch.files.map { OutgoingItem.file($0.url) }) { _ in
                    // Sent, declined or failed: the shared copies are not needed any more.
                    inbox.finished(batch)
                }
                inbox.startedSending(batch)
            } catch {
                errorMessage = ErrorKinds.message(for: error)
            }
        }
    }
}
