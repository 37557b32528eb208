import FerryKit
import SwiftUI
import UIKit

/// Devices nearby (found now, and favorites), running transfers and received texts.
struct NearbyView: View {
    @Environment(FerryModel.self) private var model
    @Environment(Presentation.self) private var presentation
    @State private var hold: DiscoveryHold?
    @State private var addingAddress = false
    @State private var address = ""
    @State private var errorMessage: String?

    var body: some View {
        NavigationStack {
            List {
                NodeStatusSection()
                PinWarningSection()
                if !model.texts.isEmpty {
                    Section("Messages") {
                        ForEach(model.texts) { text in
                            ReceivedTextRow(text: text)
                        }
                    }
                }
                if !model.transfers.isEmpty {
                    TransfersView()
                }
                Section {
                    if model.devices.isEmpty || model.nearbyStatus == .localNetworkDenied {
                        NearbyStatusView()
                    }
                    ForEach(model.devices) { device in
                        Button {
                            presentation.showSend(to: device)
                        } label: {
                            DeviceRow(device: device)
                        }
                        .accessibilityHint("Sends files or a message")
                        .swipeActions(edge: .leading) {
                            Button {
                                setFavorite(device, !device.favorite)
                            } label: {
                                Label(device.favorite ? "Remove Favorite" : "Favorite",
                                      systemImage: device.favorite ? "star.slash" : "star")
                            }
                            .tint(.yellow)
                        }
                        .contextMenu {
                            Button {
                                setFavorite(device, !device.favorite)
                            } label: {
                                Label(device.favorite ? "Remove Favorite" : "Favorite",
                                      systemImage: device.favorite ? "star.slash" : "star")
                            }
                        }
                    }
                } header: {
                    HStack(spacing: 6) {
                        Text("Nearby devices")
                        if model.discovering {
                            ProgressView()
                                .controlSize(.mini)
                                .accessibilityLabel("Scanning")
                        }
                    }
                }
            }
            .refreshable { await model.rescan() }
            .navigationTitle("Ferry")
            .toolbar {
                ToolbarItem(placement: .primaryAction) {
                    Button {
                        address = ""
                        addingAddress = true
                    } label: {
                        Label("Add by IP Address", systemImage: "plus")
                    }
                }
                ToolbarItem(placement: .secondaryAction) {
                    NavigationLink {
                        PairView()
                    } label: {
                        Label("Pair with QR Code", systemImage: "qrcode")
                    }
                }
                ToolbarItem(placement: .secondaryAction) {
                    NavigationLink {
                        LinkShareView()
                    } label: {
                        Label("Share via Link", systemImage: "link")
                    }
                }
            }
            .alert("Add by IP Address", isPresented: $addingAddress) {
                TextField("192.168.1.20:53317", text: $address)
                    .keyboardType(.numbersAndPunctuation)
                    .textInputAutocapitalization(.never)
                    .autocorrectionDisabled()
                Button("Add") { add(favorite: false) }
                Button("Add as Favorite") { add(favorite: true) }
                Button("Cancel", role: .cancel) {}
            } message: {
                Text("The device's address, and its port if it is not 53317. A favorite stays in the list and is asked at this address when it is not found.")
            }
            .alert("Ferry", isPresented: showingError) {
                Button("OK", role: .cancel) {}
            } message: {
                Text(errorMessage ?? "")
            }
            // Discovery runs (and rescans every 30 s) only while the list is on screen.
            .onAppear {
                if hold == nil { hold = model.holdDiscovery() }
            }
            .onDisappear {
                hold?.release()
                hold = nil
            }
        }
    }

    private var showingError: Binding<Bool> {
        Binding(get: { @MainActor in errorMessage != nil }, set: { @MainActor shown in if !shown { errorMessage = nil } })
    }

    private func add(favorite: Bool) {
        let address = address.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !address.isEmpty else { return }
        Task {
            do {
                try await model.addByAddress(address, favorite: favorite)
            } catch {
                errorMessage = "Nothing answered at \(address). \(ErrorKinds.message(for: error))"
            }
        }
    }

    private func setFavorite(_ device: NearbyDevice, _ favorite: Bool) {
        do {
            try model.setFavorite(device.fingerprint, favorite: favorite)
        } catch {
            errorMessage = ErrorKinds.message(for: error)
        }
    }
}

/// The node's state when it is not simply running.
private struct NodeStatusSection: View {
    @Environment(FerryModel.self) private var model

    var body: some View {
        switch model.nodeState {
        case .running:
            EmptyView()
        case .stopped:
            Section {
                Label("Ferry is paused", systemImage: "pause.circle")
                    .foregroundStyle(.secondary)
            }
        case let .failed(message):
            Section {
                VStack(alignment: .leading, spacing: 8) {
                    Label("Ferry could not start", systemImage: "exclamationmark.triangle.fill")
                        .foregroundStyle(.orange)
                    Text(message)
                        .font(.callout)
                        .foregroundStyle(.secondary)
                    Button("Try Again") { Task { await model.start() } }
                        .buttonStyle(.bordered)
                }
                .padding(.vertical, 4)
            }
        }
    }
}

/// Wrong PINs sent to this device: how many, from where, and whether PINs are refused for now.
/// Shown until dismissed.
private struct PinWarningSection: View {
    @Environment(FerryModel.self) private var model

    var body: some View {
        if let warning = model.pinWarning {
            Section {
                VStack(alignment: .leading, spacing: 8) {
                    Label("Wrong PIN entered \(counted(warning.failures, "time", "times")) from \(warning.shownAddress)",
                          systemImage: "exclamationmark.shield.fill")
                        .foregroundStyle(.red)
                    Text("Someone tried to send files to this device with a wrong PIN. If it was not someone you know, keep your PIN to yourself.")
                        .font(.callout)
                        .foregroundStyle(.secondary)
                    if let until = warning.lockedUntil, warning.isLocked() {
                        Text("Ferry refuses every PIN until \(until.formatted(date: .omitted, time: .standard)) (trusted devices excepted).")
                            .font(.callout)
                    }
                    Button("Dismiss") { model.dismissPinWarning() }
                        .buttonStyle(.bordered)
                }
                .padding(.vertical, 4)
            }
        }
    }
}

private struct ReceivedTextRow: View {
    @Environment(FerryModel.self) private var model
    let text: ReceivedText

    var body: some View {
        VStack(alignment: .leading, spacing: 6) {
            HStack {
                Text(shownName(text.senderAlias))
                    .font(.subheadline.weight(.semibold))
                if text.verified {
                    Image(systemName: "checkmark.seal.fill")
                        .foregroundStyle(.green)
                        .imageScale(.small)
                        .accessibilityLabel("Verified")
                }
                Spacer()
                Text(text.receivedAt, style: .time)
                    .font(.caption)
                    .foregroundStyle(.secondary)
            }
            Text(shownText(text.text))
                .textSelection(.enabled)
            HStack(spacing: 16) {
                Button {
                    UIPasteboard.general.string = text.text
                } label: {
                    Label("Copy", systemImage: "doc.on.doc")
                }
                ShareLink(item: text.text) {
                    Label("Share", systemImage: "square.and.arrow.up")
                }
                if let link = URL(string: text.text.trimmingCharacters(in: .whitespacesAndNewlines)),
                   link.scheme == "https" || link.scheme == "http" {
                    Link(destination: link) {
                        Label("Open", systemImage: "safari")
                    }
                }
            }
            .buttonStyle(.borderless)
            .font(.callout)
        }
        .padding(.vertical, 2)
        .swipeActions {
            Button("Dismiss", role: .destructive) { model.dismissText(text.id) }
        }
    }
}

/// What the list says while it shows no device: looking, nothing found for a while (what to
/// check), or Local Network refused (where to allow it). FerryKit's `nearbyStatus` decides.
struct NearbyStatusView: View {
    @Environment(FerryModel.self) private var model

    var body: some View {
        switch model.nearbyStatus {
        case .found:
            EmptyView()
        case .looking:
            ContentUnavailableView {
                Label("Looking for devices", systemImage: "antenna.radiowaves.left.and.right")
            } description: {
                Text("Devices with Ferry or LocalSend open on this network appear here.")
            }
        case .nothingFound:
            ContentUnavailableView {
                Label("No devices found", systemImage: "wifi.exclamationmark")
            } description: {
                Text("Check that the other device is on the same Wi-Fi and has Ferry or LocalSend open, and that Local Network is on for Ferry in Settings › Privacy & Security › Local Network. Pull to scan again, or add a device by its IP address.")
            }
        case .localNetworkDenied:
            ContentUnavailableView {
                Label("Local Network is off for Ferry", systemImage: "network.slash")
            } description: {
                Text("Ferry cannot find or reach devices nearby. Turn on Local Network for Ferry in Settings › Privacy & Security › Local Network.")
            } actions: {
                Button("Open Settings") {
                    if let url = URL(string: UIApplication.openSettingsURLString) { UIApplication.shared.open(url) }
                }
                .buttonStyle(.bordered)
            }
        }
    }
}
