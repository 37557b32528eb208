import FerryKit
import QuickLook
import SwiftUI
import UIKit

/// Finished transfers and texts, newest first. Received files open in Quick Look, can be
/// shared, and photos and videos saved to the photo library.
struct HistoryView: View {
    @Environment(FerryModel.self) private var model
    @State private var preview: URL?
    @State private var confirmingClear = false
    @State private var notice: String?

    var body: some View {
        NavigationStack {
            Group {
                if model.history.isEmpty {
                    ContentUnavailableView(
                        "No Transfers Yet",
                        systemImage: "clock.arrow.circlepath",
                        description: Text("What you send and receive is listed here. Received files are also in the Files app, in On My iPhone › Ferry.")
                    )
                } else {
                    List {
                        ForEach(model.history) { entry in
                            HistoryRow(entry: entry, preview: $preview, notice: $notice)
                        }
                        .onDelete { offsets in
                            let ids = offsets.map { model.history[$0].id }
                            for id in ids {
                                model.removeHistory(id)
                            }
                        }
                    }
                }
            }
            .navigationTitle("History")
            .toolbar {
                if !model.history.isEmpty {
                    ToolbarItem(placement: .primaryAction) {
                        Button("Clear", role: .destructive) { confirmingClear = true }
                    }
                }
            }
            .confirmationDialog("Clear the history?", isPresented: $confirmingClear, titleVisibility: .visible) {
                Button("Clear History", role: .destructive) { model.clearHistory() }
            } message: {
                Text("Received files stay in the Files app.")
            }
            .alert("Photos", isPresented: showingNotice) {
                Button("OK", role: .cancel) {}
            } message: {
                Text(notice ?? "")
            }
            .quickLookPreview($preview)
        }
    }

    private var showingNotice: Binding<Bool> {
        Binding(get: { @MainActor in notice != nil }, set: { @MainActor shown in if !shown { notice = nil } })
    }
}

private struct HistoryRow: View {
    let entry: HistoryEntry
    @Binding var preview: URL?
    @Binding var notice: String?
    @Environment(FerryModel.self) private var model

    var body: some View {
        VStack(alignment: .leading, spacing: 6) {
            HStack(alignment: .firstTextBaseline) {
                Image(systemName: entry.direction == .send ? "arrow.up.circle" : "arrow.down.circle")
                    .foregroundStyle(outcomeColor)
                    .accessibilityLabel(entry.direction == .send ? "Sent" : "Received")
                Text(entry.direction == .send ? "To \(shownName(entry.peerAlias))" : "From \(shownName(entry.peerAlias))")
                    .font(.headline)
                    .lineLimit(1)
                Spacer()
                Text(entry.date, format: .relative(presentation: .named))
                    .font(.caption)
                    .foregroundStyle(.secondary)
            }
            if let text = entry.text {
                Text(shownText(text))
                    .textSelection(.enabled)
                    .lineLimit(8)
                HStack(spacing: 16) {
                    Button {
                        UIPasteboard.general.string = text
                    } label: {
                        Label("Copy", systemImage: "doc.on.doc")
                    }
                    ShareLink(item: text) {
                        Label("Share", systemImage: "square.and.arrow.up")
                    }
                }
                .font(.callout)
                .buttonStyle(.borderless)
            }
            ForEach(Array(entry.files.enumerated()), id: \.offset) { _, file in
                fileLine(file)
            }
            Text(summary)
                .font(.caption)
                .foregroundStyle(entry.outcome == .failed ? Color.red : Color.secondary)
        }
        .padding(.vertical, 2)
    }

    @ViewBuilder
    private func fileLine(_ file: HistoryFile) -> some View {
        if entry.direction == .receive, let url = model.fileURL(for: file) {
            HStack(spacing: 14) {
                Button {
                    preview = url
                } label: {
                    Label(shownName(file.name), systemImage: PhotoSaver.isMedia(url) ? "photo" : "doc")
                        .lineLimit(1)
                }
                .accessibilityHint("Opens a preview")
                Spacer(minLength: 4)
                if PhotoSaver.isMedia(url) {
                    Button {
                        saveToPhotos(url)
                    } label: {
                        Image(systemName: "photo.badge.plus")
                    }
                    .accessibilityLabel("Save \(shownName(file.name)) to Photos")
                }
                ShareLink(item: url) {
                    Image(systemName: "square.and.arrow.up")
                }
                .accessibilityLabel("Share \(shownName(file.name))")
            }
            .buttonStyle(.borderless)
        } else {
            Label(shownName(file.name), systemImage: "doc")
                .lineLimit(1)
                .foregroundStyle(.secondary)
        }
    }

    private func saveToPhotos(_ url: URL) {
        Task {
            do {
                try await PhotoSaver.save([url])
                notice = "Saved to Photos."
            } catch {
                notice = error.localizedDescription
            }
        }
    }

    private var outcomeColor: Color {
        switch entry.outcome {
        case .done: .green
        case .partial: .orange
        case .failed: .red
        case .cancelled, .declined: .secondary
        }
    }

    private var summary: String {
        let size = entry.bytes > 0 ? " · \(entry.bytes.bytes)" : ""
        switch entry.outcome {
        case .done: return (entry.text == nil ? "Done" : "Shown") + size
        case .partial: return "Some files failed" + size
        case .failed: return entry.message.map { "Failed: \(shownName($0))" } ?? "Failed"
        case .cancelled: return entry.message.map(shownName) ?? "Cancelled"
        case .declined: return entry.text == nil ? "Declined" : "Not shown"
        }
    }
}
