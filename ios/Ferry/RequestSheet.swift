import FerryKit
import SwiftUI

/// An incoming transfer: who sends, whether that is proven, the code to compare, and the files.
struct RequestSheet: View {
    let request: PendingRequest
    @Environment(FerryModel.self) private var model
    @State private var selected: Set<String>
    @State private var alwaysAccept = false
    @State private var errorMessage: String?

    init(request: PendingRequest) {
        self.request = request
        _selected = State(initialValue: Set(request.files.map(\.id)))
    }

    var body: some View {
        NavigationStack {
            List {
                Section {
                    HStack(spacing: 14) {
                        Image(systemName: request.senderKind.systemImage)
                            .font(.largeTitle)
                            .foregroundStyle(.tint)
                            .accessibilityHidden(true)
                        VStack(alignment: .leading, spacing: 2) {
                            Text(shownName(request.senderAlias))
                                .font(.title3.weight(.semibold))
                            Text([request.senderModel.map(shownName) ?? request.senderKind.title, request.senderAddress].joined(separator: " · "))
                                .font(.caption)
                                .foregroundStyle(.secondary)
                        }
                    }
                    .accessibilityElement(children: .combine)
                    Text("wants to send you \(request.contents).")
                }

                Section {
                    if request.verified {
                        Label("Verified", systemImage: "checkmark.seal.fill")
                            .foregroundStyle(.green)
                        Text("The connection is encrypted and the sender proved its identity. Check that \(shownName(request.senderAlias)) shows the same code.")
                            .font(.callout)
                            .foregroundStyle(.secondary)
                    } else {
                        Label("Not verified", systemImage: "exclamationmark.shield.fill")
                            .foregroundStyle(.orange)
                        Text("The sender uses no encryption, so it could be anyone on this network claiming to be \(shownName(request.senderAlias)). Accept only what you expect.")
                            .font(.callout)
                            .foregroundStyle(.secondary)
                    }
                    if request.verified {
                        VerificationCodeView(code: request.verificationCode)
                            .frame(maxWidth: .infinity)
                            .padding(.vertical, 6)
                    }
                } header: {
                    Text("Identity")
                }

                Section {
                    ForEach(request.files) { file in
                        Toggle(isOn: isSelected(file.id)) {
                            VStack(alignment: .leading, spacing: 2) {
                                Text(shownName(file.name))
                                    .lineLimit(2)
                                Text(file.size.bytes)
                                    .font(.caption)
                                    .foregroundStyle(.secondary)
                            }
                        }
                        .accessibilityValue(selected.contains(file.id) ? "Selected" : "Not selected")
                    }
                    if request.emptyFolders > 0 {
                        Label(counted(request.emptyFolders, "empty folder", "empty folders"), systemImage: "folder")
                            .foregroundStyle(.secondary)
                    }
                } header: {
                    HStack {
                        Text("Files")
                        Spacer()
                        if request.files.count > 1 {
                            Button(selected.count == request.files.count ? "Select None" : "Select All") {
                                selected = selected.count == request.files.count ? [] : Set(request.files.map(\.id))
                            }
                            .font(.caption)
                            .textCase(nil)
                        }
                    }
                }

                if request.verified && !request.trusted {
                    Section {
                        Toggle("Always accept from this device", isOn: $alwaysAccept)
                    } footer: {
                        Text("Trusts \(shownName(request.senderAlias)). With Quick Save set to Trusted devices, its files are saved without asking.")
                    }
                }

                if let errorMessage {
                    Section {
                        Label(errorMessage, systemImage: "exclamationmark.triangle.fill")
                            .foregroundStyle(.red)
                    }
                }
            }
            .navigationTitle("Incoming")
            .navigationBarTitleDisplayMode(.inline)
            .safeAreaInset(edge: .bottom) {
                VStack(spacing: 10) {
                    if request.files.count > 1 && selected.count < request.files.count {
                        Button {
                            answer { try model.accept(request.sessionId, fileIDs: selected, trustSender: alwaysAccept) }
                        } label: {
                            Text("Accept \(selected.count) Selected").frame(maxWidth: .infinity)
                        }
                        .buttonStyle(.bordered)
                        .disabled(selected.isEmpty)
                    }
                    HStack(spacing: 12) {
                        Button(role: .destructive) {
                            answer { try model.decline(request.sessionId) }
                        } label: {
                            Text("Decline").frame(maxWidth: .infinity)
                        }
                        .buttonStyle(.bordered)
                        Button {
                            answer { try model.accept(request.sessionId, trustSender: alwaysAccept) }
                        } label: {
                            Text(request.files.count > 1 ? "Accept All" : "Accept").frame(maxWidth: .infinity)
                        }
                        .buttonStyle(.borderedProminent)
                    }
                }
                .controlSize(.large)
                .padding()
                .background(.bar)
            }
        }
    }

    private func isSelected(_ id: String) -> Binding<Bool> {
        Binding(
            get: { @MainActor in selected.contains(id) },
            set: { @MainActor on in
                if on { selected.insert(id) } else { selected.remove(id) }
            }
        )
    }

    /// The sheet closes by itself once the request leaves the model's list.
    private func answer(_ action: () throws -> Void) {
        do {
            try action()
        } catch {
            errorMessage = ErrorKinds.message(for: error)
        }
    }
}
