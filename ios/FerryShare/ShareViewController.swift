import FerryOutbox
import Observation
import SwiftUI
import UIKit
import UniformTypeIdentifiers
import UserNotifications

/// The share extension: copies what is shared into the App Group's outbox (file by file, never
/// into memory: an extension has about 120 MB), then hands off to Ferry to pick a device. It
/// links FerryOutbox only (Foundation), not the Ferry library: the app sends.
final class ShareViewController: UIViewController {
    private let state = ShareState()
    private var work: Task<Void, Never>?

    override func viewDidLoad() {
        super.viewDidLoad()
        let host = UIHostingController(rootView: ShareView(
            state: state,
            openFerry: { [weak self] in self?.openFerry() },
            done: { [weak self] in self?.done() },
            cancel: { [weak self] in self?.cancel() }
        ))
        addChild(host)
        host.view.translatesAutoresizingMaskIntoConstraints = false
        view.addSubview(host.view)
        NSLayoutConstraint.activate([
            host.view.leadingAnchor.constraint(equalTo: view.leadingAnchor),
            host.view.trailingAnchor.constraint(equalTo: view.trailingAnchor),
            host.view.topAnchor.constraint(equalTo: view.topAnchor),
            host.view.bottomAnchor.constraint(equalTo: view.bottomAnchor),
        ])
        host.didMove(toParent: self)

        let providers = (extensionContext?.inputItems ?? [])
            .compactMap { $0 as? NSExtensionItem }
            .flatMap { $0.attachments ?? [] }
        work = Task { [weak self] in
            await self?.collect(providers)
        }
    }

    private func collect(_ providers: [NSItemProvider]) async {
        guard let outbox = SharedOutbox.appGroup() else {
            state.phase = .failed(OutboxError.noAppGroup.localizedDescription)
            return
        }
        do {
            let staging = try outbox.makeStagingDirectory()
            defer { try? FileManager.default.removeItem(at: staging) }
            var files: [URL] = []
            var texts: [String] = []
            for (index, provider) in providers.enumerated() {
                try Task.checkCancellation()
                state.progress = (index, providers.count)
                let slot = staging.appending(path: String(index), directoryHint: .isDirectory)
                switch try await SharedItem.load(provider, into: slot) {
                case let .file(url): files.append(url)
                case let .text(text): texts.append(text)
                case nil: continue
                }
            }
            // Cancelled while the last item loaded: no batch for Ferry to offer later.
            try Task.checkCancellation()
            let batch = try outbox.enqueue(items: files, text: texts.isEmpty ? nil : texts.joined(separator: "\n"), moving: true)
            state.phase = .ready(batch)
            openFerry()
        } catch is CancellationError {
            return
        } catch OutboxError.empty {
            state.phase = .failed("Ferry cannot send what was shared.")
        } catch {
            state.phase = .failed(error.localizedDescription)
        }
    }

    /// Share extensions cannot open their app (`UIApplication.open` is unavailable to them), so
    /// the hand-off is a local notification whose tap opens `ferry://outbox?id=…` in Ferry; and
    /// Ferry offers every waiting batch whenever it comes to the front. The sheet says so.
    private func openFerry() {
        guard case let .ready(batch) = state.phase else { return }
        let content = UNMutableNotificationContent()
        content.title = String(localized: "Ready to send")
        content.body = String(localized: "Tap to choose the device to send to.")
        content.userInfo = ["url": "ferry://outbox?id=\(batch.id.uuidString)"]
        let request = UNNotificationRequest(identifier: "outbox-\(batch.id.uuidString)", content: content, trigger: nil)
        UNUserNotificationCenter.current().add(request) { _ in }
        state.handedOff = true
    }

    /// The batch stays in the outbox: Ferry offers it the next time it opens.
    private func done() {
        extensionContext?.completeRequest(returningItems: nil)
    }

    private func cancel() {
        work?.cancel()
        if case let .ready(batch) = state.phase {
            try? SharedOutbox.appGroup()?.remove(batch)
        }
        extensionContext?.cancelRequest(withError: CocoaError(.userCancelled))
    }
}

@MainActor
@Observable
final class ShareState {
    enum Phase {
        case collecting
        case ready(OutboxBatch)
        case failed(String)
    }

    var phase = Phase.collecting
    /// Items handled so far, of how many.
    var progress = (done: 0, total: 0)
    /// The hand-off notification was posted.
    var handedOff = false
}

/// One shared item, copied into the staging folder.
enum SharedItem {
    case file(URL)
    case text(String)

    enum Failure: LocalizedError {
        case unreadable(String?)

        var errorDescription: String? {
            switch self {
            case let .unreadable(name): "\(name ?? "An item") could not be read."
            }
        }
    }

    // The loads run on the main actor (where the providers live; they are not Sendable): only
    // the providers' completion handlers run elsewhere, and they touch Sendable values only.

    /// Photos and videos, then other files, then links and text.
    @MainActor
    static func load(_ provider: NSItemProvider, into folder: URL) async throws -> SharedItem? {
        func has(_ type: UTType) -> Bool { provider.hasItemConformingToTypeIdentifier(type.identifier) }
        if has(.movie) { return .file(try await loadFile(provider, type: .movie, into: folder)) }
        if has(.image) { return .file(try await loadFile(provider, type: .image, into: folder)) }
        if has(.fileURL) { return try await loadFileURL(provider, into: folder).map(SharedItem.file) }
        if has(.url) { return try await loadText(provider, type: .url).map(SharedItem.text) }
        // Text with a file name (a .txt from Files) is a file; text alone is a message.
        if has(.plainText), !(provider.suggestedName ?? "").contains(".") {
            return try await loadText(provider, type: .plainText).map(SharedItem.text)
        }
        if has(.data) || has(.item) { return .file(try await loadFile(provider, type: .item, into: folder)) }
        return nil
    }

    /// A file representation, copied while its temporary file exists (in the handler).
    @MainActor
    private static func loadFile(_ provider: NSItemProvider, type: UTType, into folder: URL) async throws -> URL {
        let suggested = provider.suggestedName
        return try await withCheckedThrowingContinuation { continuation in
            _ = provider.loadFileRepresentation(forTypeIdentifier: type.identifier) { url, error in
                guard let url else {
                    continuation.resume(throwing: error ?? Failure.unreadable(suggested))
                    return
                }
                continuation.resume(with: Result { try copy(url, named: name(suggested, fallback: url), into: folder) })
            }
        }
    }

    /// A file URL (Files, some apps), copied within its security scope.
    @MainActor
    private static func loadFileURL(_ provider: NSItemProvider, into folder: URL) async throws -> URL? {
        try await withCheckedThrowingContinuation { continuation in
            provider.loadItem(forTypeIdentifier: UTType.fileURL.identifier, options: nil) { item, error in
                if let error {
                    continuation.resume(throwing: error)
                    return
                }
                guard let url = item as? URL, url.isFileURL else {
                    continuation.resume(returning: nil)
                    return
                }
                let scoped = url.startAccessingSecurityScopedResource()
                defer { if scoped { url.stopAccessingSecurityScopedResource() } }
                continuation.resume(with: Result { try copy(url, named: url.lastPathComponent, into: folder) })
            }
        }
    }

    @MainActor
    private static func loadText(_ provider: NSItemProvider, type: UTType) async throws -> String? {
        try await withCheckedThrowingContinuation { continuation in
            provider.loadItem(forTypeIdentifier: type.identifier, options: nil) { item, error in
                if let error {
                    continuation.resume(throwing: error)
                    return
                }
                let text: String? = switch item {
                case let url as URL: url.absoluteString
                case let string as String: string
                case let data as Data: String(data: data, encoding: .utf8)
                default: nil
                }
                continuation.resume(returning: text.flatMap { $0.isEmpty ? nil : $0 })
            }
        }
    }

    private static func name(_ suggested: String?, fallback url: URL) -> String {
        guard let suggested, !suggested.isEmpty else { return url.lastPathComponent }
        let ext = url.pathExtension
        return suggested.contains(".") || ext.isEmpty ? suggested : "\(suggested).\(ext)"
    }

    /// Copied by the file system (a clone on APFS), never read into memory.
    private static func copy(_ source: URL, named name: String, into folder: URL) throws -> URL {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let safe = name.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "_")
        let destination = folder.appending(path: safe.isEmpty ? "file" : safe)
        try FileManager.default.copyItem(at: source, to: destination)
        return destination
    }
}

struct ShareView: View {
    let state: ShareState
    let openFerry: () -> Void
    let done: () -> Void
    let cancel: () -> Void

    var body: some View {
        NavigationStack {
            VStack(spacing: 16) {
                switch state.phase {
                case .collecting:
                    ProgressView(value: Double(state.progress.done), total: Double(max(state.progress.total, 1))) {
                        Text("Preparing…")
                    }
                    .padding(.horizontal)
                case let .ready(batch):
                    Image(systemName: "paperplane.circle.fill")
                        .font(.system(size: 56))
                        .foregroundStyle(.tint)
                        .accessibilityHidden(true)
                    Text(summary(batch))
                        .font(.headline)
                        .multilineTextAlignment(.center)
                    Text("Open Ferry, or tap its notification, to choose a device. What you shared waits there.")
                        .multilineTextAlignment(.center)
                        .foregroundStyle(.secondary)
                case let .failed(message):
                    Image(systemName: "exclamationmark.triangle.fill")
                        .font(.system(size: 44))
                        .foregroundStyle(.orange)
                        .accessibilityHidden(true)
                    Text(message)
                        .multilineTextAlignment(.center)
                }
            }
            .padding()
            .frame(maxWidth: .infinity, maxHeight: .infinity)
            .navigationTitle("Ferry")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel", action: cancel)
                }
                if case .ready = state.phase {
                    ToolbarItem(placement: .confirmationAction) {
                        Button("Done", action: done)
                    }
                }
            }
        }
    }

    private func summary(_ batch: OutboxBatch) -> String {
        switch (batch.files.count, batch.text) {
        case (0, _): "A message is ready to send."
        case (1, nil): "\(batch.files[0].name) is ready to send."
        case let (count, nil): "\(count) files are ready to send."
        case let (count, _): "\(count == 1 ? "A file" : "\(count) files") and a message are ready to send."
        }
    }
}
