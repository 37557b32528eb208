import FerryKit
import SwiftUI

struct SettingsView: View {
    @Environment(FerryModel.self) private var model
    @State private var alias = ""
    @State private var port = ""
    @State private var pin = ""
    @State private var errorMessage: String?
    @FocusState private var focus: Field?

    private enum Field: Hashable {
        case alias, port, pin
    }

    var body: some View {
        NavigationStack {
            Form {
                if let errorMessage {
                    Section {
                        Label(errorMessage, systemImage: "exclamationmark.triangle.fill")
                            .foregroundStyle(.red)
                    }
                }

                Section {
                    TextField("Device name", text: $alias)
                        .focused($focus, equals: .alias)
                        .textInputAutocapitalization(.words)
                        .submitLabel(.done)
                        .onSubmit { commit(.alias) }
                    Picker("Device type", selection: setting(\.deviceKind)) {
                        ForEach(DeviceType.allCases) { kind in
                            Label(kind.title, systemImage: kind.systemImage).tag(kind)
                        }
                    }
                } header: {
                    Text("This device")
                } footer: {
                    Text("How others see this device.")
                }

                Section {
                    Toggle("Receive files", isOn: setting(\.receiving))
                    Picker("Quick Save", selection: setting(\.quickSave)) {
                        ForEach(QuickSave.allCases) { option in
                            Text(option.title).tag(option)
                        }
                    }
                    Toggle("Save photos and videos to Photos", isOn: saveMediaToPhotos)
                    Toggle("Skip files already received", isOn: setting(\.skipExisting))
                } header: {
                    Text("Receiving")
                } footer: {
                    Text(receivingFooter)
                }

                Section {
                    Toggle("Encryption (HTTPS)", isOn: setting(\.encryption))
                    LabeledContent("PIN") {
                        TextField("None", text: $pin)
                            .focused($focus, equals: .pin)
                            .multilineTextAlignment(.trailing)
                            .textInputAutocapitalization(.never)
                            .autocorrectionDisabled()
                            .submitLabel(.done)
                            .onSubmit { commit(.pin) }
                    }
                    LabeledContent("Port") {
                        TextField(String(FerryKit.Settings.defaultPort), text: $port)
                            .focused($focus, equals: .port)
                            .multilineTextAlignment(.trailing)
                            .keyboardType(.numberPad)
                    }
                } header: {
                    Text("Security and network")
                } footer: {
                    Text("Without encryption no device can be verified. Senders must give the PIN, if set. LocalSend uses port 53317.")
                }

                Section {
                    if model.trusted.isEmpty {
                        Text("None yet. Choose “Always accept from this device” when a verified device sends you files.")
                            .font(.callout)
                            .foregroundStyle(.secondary)
                    }
                    ForEach(model.trusted) { entry in
                        VStack(alignment: .leading, spacing: 4) {
                            Text(entry.alias.map(shownName) ?? String(entry.fingerprint.prefix(12)))
                            VerificationCodeView(code: entry.verificationCode, font: .system(.callout, design: .monospaced))
                                .foregroundStyle(.secondary)
                        }
                        .accessibilityElement(children: .combine)
                    }
                    .onDelete { offsets in
                        let fingerprints = offsets.map { model.trusted[$0].fingerprint }
                        do {
                            for fingerprint in fingerprints {
                                try model.untrust(fingerprint)
                            }
                        } catch {
                            errorMessage = ErrorKinds.message(for: error)
                        }
                    }
                    NavigationLink {
                        PairView()
                    } label: {
                        Label("Pair with QR Code", systemImage: "qrcode")
                    }
                } header: {
                    Text("Trusted devices")
                } footer: {
                    if !model.trusted.isEmpty {
                        Text("Compare a code with the one the other device shows. Swipe to stop trusting a device.")
                    }
                }

                Section("About") {
                    LabeledContent("Status", value: status)
                    if let fingerprint = model.nodeState.fingerprint {
                        LabeledContent("Fingerprint") {
                            Text(String(fingerprint.prefix(16)) + "…")
                                .font(.system(.footnote, design: .monospaced))
                                .textSelection(.enabled)
                        }
                    }
                    LabeledContent("Ferry library", value: FerryModel.libraryVersion)
                }
            }
            .navigationTitle("Settings")
            .toolbar {
                ToolbarItemGroup(placement: .keyboard) {
                    Spacer()
                    Button("Done") { focus = nil }
                }
            }
            .onAppear { loadDrafts() }
            .onChange(of: focus) { old, _ in
                // A field is saved when it loses focus (the number pad has no return key).
                if let old { commit(old) }
            }
        }
    }

    private var receivingFooter: String {
        let quickSave = switch model.settings.quickSave {
        case .off: "Every transfer is asked about, also from trusted devices."
        case .trusted: "Files from trusted devices are saved without asking; others are asked about."
        case .everyone: "Files from anyone on this network are saved without asking."
        }
        let skip = model.settings.skipExisting
            ? " Files Ferry has already (same name, size and date) are left out; the sender sees them as skipped."
            : ""
        return quickSave + skip
    }

    private var status: String {
        switch model.nodeState {
        case let .running(_, port): "Receiving on port \(port)"
        case .stopped: "Paused"
        case let .failed(message): message
        }
    }

    private func loadDrafts() {
        alias = model.settings.alias
        port = String(model.settings.port)
        pin = model.settings.pin ?? ""
    }

    /// A binding that saves each change, showing what cannot be saved. Swift 6: the closures are
    /// main-actor isolated (explicitly, so that they are Sendable, as Binding may require) and
    /// capture only Sendable values: the key path is declared Sendable (key path literals
    /// are), where a plain `WritableKeyPath` is not.
    private func setting<Value: Sendable>(_ keyPath: WritableKeyPath<FerryKit.Settings, Value> & Sendable) -> Binding<Value> {
        Binding(
            get: { @MainActor in model.settings[keyPath: keyPath] },
            set: { @MainActor value in apply { $0[keyPath: keyPath] = value } }
        )
    }

    /// Turning it on asks for permission to add to the photo library first.
    private var saveMediaToPhotos: Binding<Bool> {
        Binding(
            get: { @MainActor in model.settings.saveMediaToPhotos },
            set: { @MainActor on in
                guard on else {
                    apply { $0.saveMediaToPhotos = false }
                    return
                }
                Task { @MainActor in
                    if await PhotoSaver.requestAccess() {
                        apply { $0.saveMediaToPhotos = true }
                    } else {
                        errorMessage = "Ferry may not add to your photo library. Allow it in Settings › Privacy & Security › Photos."
                    }
                }
            }
        )
    }

    private func commit(_ field: Field) {
        switch field {
        case .alias:
            guard alias != model.settings.alias else { return }
            apply { $0.alias = alias }
        case .pin:
            guard pin != (model.settings.pin ?? "") else { return }
            apply { $0.pin = pin }
        case .port:
            guard let value = Int(port.trimmingCharacters(in: .whitespaces)) else {
                errorMessage = "The port must be a number."
                return
            }
            guard value != model.settings.port else { return }
            apply { $0.port = value }
        }
        if errorMessage == nil { loadDrafts() }
    }

    private func apply(_ change: (inout FerryKit.Settings) -> Void) {
        do {
            try model.updateSettings(change)
            errorMessage = nil
        } catch {
            errorMessage = ErrorKinds.message(for: error)
        }
    }
}
