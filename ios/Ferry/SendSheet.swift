import CoreTransferable
import FerryKit
import PhotosUI
import SwiftUI
import UniformTypeIdentifiers

/// What to send to one device: photos, files and folders, or a message.
struct SendSheet: View {
    let device: NearbyDevice
    @Environment(FerryModel.self) private var model
    @Environment(Presentation.self) private var presentation
    @State private var photoItems: [PhotosPickerItem] = []
    @State private var importingFiles = false
    @State private var message = ""
    @State private var pin = ""
    @State private var busy = false
    @State private var errorMessage: String?

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    // `.current`: the originals (HEIC, HEVC), not copies transcoded for compatibility.
                    PhotosPicker(selection: $photoItems, maxSelectionCount: 100, matching: .any(of: [.images, .videos]),
                                 preferredItemEncoding: .current) {
                        Label("Photos and Videos", systemImage: "photo.on.rectangle.angled")
                    }
                    Button {
                        importingFiles = true
                    } label: {
                        Label("Files and Folders", systemImage: "folder")
                    }
                } header: {
                    Text("Send")
                } footer: {
                    if !device.online {
                        Text("\(shownName(device.alias)) was not found nearby; Ferry tries its last address.")
                    }
                }
                Section("Message") {
                    TextField("Text or a link", text: $message, axis: .vertical)
                        .lineLimit(2...8)
                    Button("Send Message", systemImage: "paperplane") { sendMessage() }
                        .disabled(message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
                }
                Section {
                    SecureField("PIN", text: $pin)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                } header: {
                    Text("PIN")
                } footer: {
                    Text("Only if \(shownName(device.alias)) asks for one.")
                }
                if let errorMessage {
                    Section {
                        Label(errorMessage, systemImage: "exclamationmark.triangle.fill")
                            .foregroundStyle(.red)
                    }
                }
            }
            .disabled(busy)
            .overlay {
                if busy {
                    ProgressView("Preparing…")
                        .padding()
                        .background(.regularMaterial, in: RoundedRectangle(cornerRadius: 12))
                }
            }
            .navigationTitle(shownName(device.alias))
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel") { close() }
                }
            }
            .fileImporter(isPresented: $importingFiles, allowedContentTypes: [.item, .folder], allowsMultipleSelection: true) { result in
                switch result {
                case let .success(urls):
                    // Read in place, within each URL's security scope, until the send ends.
                    send(urls.map(OutgoingItem.securityScoped))
                case let .failure(error):
                    errorMessage = error.localizedDescription
                }
            }
            .onChange(of: photoItems) { _, items in
                guard !items.isEmpty else { return }
                Task { await sendPhotos(items) }
            }
        }
    }

    /// Closes this sheet through the one place that presents sheets (a request may be on screen
    /// instead: it is left alone).
    private func close() {
        presentation.close(.send(device))
    }

    private func send(_ items: [OutgoingItem]) {
        guard !items.isEmpty else { return }
        do {
            try model.send(to: device, items: items, pin: pin)
            close()
        } catch {
            errorMessage = ErrorKinds.message(for: error)
        }
    }

    /// Photos come as copies (the library's originals are not files the app may read).
    private func sendPhotos(_ items: [PhotosPickerItem]) async {
        busy = true
        defer {
            busy = false
            photoItems = []
        }
        var copies: [URL] = []
        do {
            for item in items {
                guard let picked = try await item.loadTransferable(type: PickedFile.self) else { continue }
                copies.append(picked.url)
            }
            send(copies.map(OutgoingItem.temporary))
        } catch {
            for copy in copies {
                try? FileManager.default.removeItem(at: copy)
            }
            errorMessage = "A photo could not be read: \(error.localizedDescription)"
        }
    }

    private func sendMessage() {
        let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return }
        busy = true
        Task {
            defer { busy = false }
            do {
                if try await model.sendText(to: device, text: text, pin: pin) {
                    close()
                } else {
                    errorMessage = "\(shownName(device.alias)) did not show the message."
                }
            } catch {
                errorMessage = ErrorKinds.message(for: error)
            }
        }
    }
}

/// A photo or video from the picker, copied into a folder of its own (keeping its name).
struct PickedFile: Transferable {
    let url: URL

    static var transferRepresentation: some TransferRepresentation {
        FileRepresentation(importedContentType: .movie) { received in
            PickedFile(url: try copy(received.file))
        }
        FileRepresentation(importedContentType: .image) { received in
            PickedFile(url: try copy(received.file))
        }
        FileRepresentation(importedContentType: .data) { received in
            PickedFile(url: try copy(received.file))
        }
    }

    /// The received file is only valid in the importing closure; a copy is a clone on APFS.
    private static func copy(_ file: URL) throws -> URL {
        let folder = AppFiles.outgoingCopies.appending(path: UUID().uuidString, directoryHint: .isDirectory)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let destination = folder.appending(path: file.lastPathComponent)
        try FileManager.default.copyItem(at: file, to: destination)
        return destination
    }
}
