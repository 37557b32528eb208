import FerryKit
import SwiftUI
import UniformTypeIdentifiers

/// Share via link: chosen files offered to browsers (and LocalSend apps) on the network, the
/// links and the first one's QR code on screen, each browser let in or turned away by the user;
/// and the receive page, where browsers upload files (each upload is asked about as usual).
/// FerryKit's model holds the state; this view only shows it.
struct LinkShareView: View {
    @Environment(FerryModel.self) private var model
    @State private var importing = false
    @State private var pin = ""
    @State private var approveEveryone = false
    @State private var errorMessage: String?

    var body: some View {
        List {
            if let errorMessage {
                Section {
                    Label(errorMessage, systemImage: "exclamationmark.triangle.fill")
                        .foregroundStyle(.red)
                }
            }
            if let share = model.linkShare {
                OpenShareSections(share: share)
            } else {
                Section {
                    Button {
                        importing = true
                    } label: {
                        Label("Choose Files to Share", systemImage: "doc.badge.plus")
                    }
                    LabeledContent("PIN") {
                        TextField("None", text: $pin)
                            .multilineTextAlignment(.trailing)
                            .textInputAutocapitalization(.never)
                            .autocorrectionDisabled()
                    }
                    Toggle("Let every browser in", isOn: $approveEveryone)
                } header: {
                    Text("Share via link")
                } footer: {
                    Text("Anyone on this network opens the link in a browser; you let each one in. With encryption on, browsers show a certificate warning first.")
                }
            }
            Section {
                Toggle("Receive via link", isOn: receivePage)
                if model.receivePage {
                    ForEach(model.pageLinks(), id: \.self) { link in
                        Text(link)
                            .font(.system(.footnote, design: .monospaced))
                            .textSelection(.enabled)
                    }
                }
            } footer: {
                Text("Browsers on this network open the link and upload files; each upload is asked about like any transfer.")
            }
        }
        .navigationTitle("Share via Link")
        .fileImporter(isPresented: $importing, allowedContentTypes: [.item, .folder], allowsMultipleSelection: true) { result in
            switch result {
            case let .success(urls):
                do {
                    // Read in place, within each URL's security scope, until the share stops.
                    try model.startShare(items: urls.map(OutgoingItem.securityScoped), pin: pin, approveEveryone: approveEveryone)
                    errorMessage = nil
                } catch {
                    errorMessage = ErrorKinds.message(for: error)
                }
            case let .failure(error):
                errorMessage = error.localizedDescription
            }
        }
    }

    private var receivePage: Binding<Bool> {
        Binding(
            get: { @MainActor in model.receivePage },
            set: { @MainActor on in
                do {
                    try model.setReceivePage(on)
                    errorMessage = nil
                } catch {
                    errorMessage = ErrorKinds.message(for: error)
                }
            }
        )
    }
}

/// An open share: its QR code and links, the browsers asking, downloads, and Stop.
private struct OpenShareSections: View {
    @Environment(FerryModel.self) private var model
    let share: LinkShareState

    var body: some View {
        Section {
            if let link = share.primaryLink, let matrix = QRMatrix(text: link) {
                QRCodeView(matrix: matrix, label: "QR code of the link")
                    .frame(maxWidth: 240)
                    .frame(maxWidth: .infinity)
                    .padding(.vertical, 8)
            }
            ForEach(share.links, id: \.self) { link in
                Text(link)
                    .font(.system(.footnote, design: .monospaced))
                    .textSelection(.enabled)
            }
            if let pin = share.pin {
                LabeledContent("PIN", value: pin)
            }
            Button("Stop Sharing", role: .destructive) { model.stopShare() }
        } header: {
            Text(summary)
        }

        if !share.waiting.isEmpty {
            Section("Asking to see the files") {
                ForEach(share.waiting) { ask in
                    VStack(alignment: .leading, spacing: 6) {
                        Text(ask.shownAddress)
                            .font(.headline)
                        Text(ask.shownAgent)
                            .font(.caption)
                            .foregroundStyle(.secondary)
                            .lineLimit(2)
                        HStack {
                            Button("Let In") { model.answerBrowser(ask.id, approve: true) }
                                .buttonStyle(.borderedProminent)
                            Button("Turn Away", role: .destructive) { model.answerBrowser(ask.id, approve: false) }
                                .buttonStyle(.bordered)
                        }
                    }
                    .padding(.vertical, 2)
                }
            }
        }

        if share.wrongPins > 0 {
            Section {
                Label(share.pinLocked ? "Wrong PINs: PIN checks are locked for a while." : "A wrong PIN was entered \(share.wrongPins) time(s).",
                      systemImage: "exclamationmark.shield.fill")
                    .foregroundStyle(.red)
            }
        }

        if !share.downloads.isEmpty {
            Section("Downloads") {
                ForEach(share.downloads) { download in
                    VStack(alignment: .leading, spacing: 4) {
                        Text(download.shownName)
                            .lineLimit(1)
                        Text(status(download))
                            .font(.caption)
                            .foregroundStyle(.secondary)
                    }
                }
            }
        }
    }

    private var summary: String {
        let count = share.files.count
        let files = count == 1 ? "1 file" : "\(count) files"
        return "Sharing \(files), \(ByteText.size(share.totalBytes))"
    }

    private func status(_ download: ShareDownload) -> String {
        let who = shownName(download.address)
        if download.finished {
            return download.complete ? "\(who) · done" : "\(who) · stopped at \(ByteText.size(Int64(clamping: download.sent)))"
        }
        guard download.size > 0 else { return "\(who) · \(ByteText.size(Int64(clamping: download.sent)))" }
        return "\(who) · \(ByteText.size(Int64(clamping: download.sent))) of \(ByteText.size(Int64(clamping: download.size)))"
    }
}
