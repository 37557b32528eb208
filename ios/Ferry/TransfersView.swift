import FerryKit
import SwiftUI

/// Running transfers, and finished ones until they are cleared: a section of the nearby list.
struct TransfersView: View {
    @Environment(FerryModel.self) private var model

    var body: some View {
        Section {
            ForEach(model.transfers) { transfer in
                TransferRow(transfer: transfer)
            }
        } header: {
            HStack {
                Text("Transfers")
                Spacer()
                if model.transfers.contains(where: { $0.state.isFinished }) {
                    Button("Clear Finished") { model.dismissFinished() }
                        .font(.caption)
                        .textCase(nil)
                }
            }
        }
    }
}

struct TransferRow: View {
    let transfer: Transfer
    @Environment(FerryModel.self) private var model

    var body: some View {
        VStack(alignment: .leading, spacing: 6) {
            HStack(spacing: 10) {
                Image(systemName: transfer.direction == .send ? "arrow.up.circle.fill" : "arrow.down.circle.fill")
                    .font(.title3)
                    .foregroundStyle(stateColor)
                    .accessibilityHidden(true)
                VStack(alignment: .leading, spacing: 1) {
                    Text(title)
                        .lineLimit(1)
                    Text(files)
                        .font(.caption)
                        .foregroundStyle(.secondary)
                        .lineLimit(1)
                }
                Spacer(minLength: 8)
                if !transfer.state.isFinished {
                    Button {
                        model.cancel(transfer.id)
                    } label: {
                        Image(systemName: "xmark.circle.fill")
                            .font(.title3)
                            .foregroundStyle(.secondary)
                    }
                    .buttonStyle(.borderless)
                    .accessibilityLabel("Cancel transfer")
                }
            }
            if !transfer.state.isFinished {
                ProgressView(value: transfer.fraction ?? 0)
                    .accessibilityHidden(true)
                // Speed and time left, read again every second (they fall while nothing arrives).
                TimelineView(.periodic(from: .now, by: 1)) { _ in
                    if let speed = transfer.speedText(at: .now) {
                        Text(speed)
                            .font(.caption)
                            .monospacedDigit()
                            .foregroundStyle(.secondary)
                    }
                }
            }
            Text(status)
                .font(.caption)
                .foregroundStyle(transfer.state == .failed ? Color.red : Color.secondary)
        }
        .padding(.vertical, 2)
        .accessibilityElement(children: .contain)
        .accessibilityLabel("\(title), \(status)")
        .swipeActions {
            if transfer.state.isFinished {
                Button("Remove", role: .destructive) { model.dismiss(transfer.id) }
            }
        }
    }

    private var title: String {
        transfer.direction == .send ? "To \(shownName(transfer.peerAlias))" : "From \(shownName(transfer.peerAlias))"
    }

    private var files: String {
        guard let first = transfer.fileNames.first else { return "" }
        let more = transfer.fileNames.count - 1
        return more > 0 ? "\(first) and \(more) more" : first
    }

    private var stateColor: Color {
        switch transfer.state {
        case .waiting, .running: .accentColor
        case .done: .green
        case .failed: .red
        case .cancelled, .declined: .secondary
        }
    }

    private var status: String {
        switch transfer.state {
        case .waiting:
            return transfer.direction == .send ? "Waiting for \(shownName(transfer.peerAlias)) to accept…" : "Starting…"
        case .running:
            let percent = transfer.fraction.map { " (\(Int(($0 * 100).rounded()))%)" } ?? ""
            let resumed = transfer.resumedText.map { " · \($0)" } ?? ""
            return "\(transfer.bytesDone.bytes) of \(transfer.bytesTotal.bytes)\(percent)\(resumed)"
        case .done:
            let verb = transfer.direction == .send ? "Sent" : "Received"
            let count = transfer.filesDone == 1 ? "1 file" : "\(transfer.filesDone) files"
            let failed = transfer.filesFailed > 0 ? ", \(transfer.filesFailed) failed" : ""
            let skipped = transfer.skippedText.map { ", \($0) (already there)" } ?? ""
            let resumed = transfer.resumedText.map { " · \($0)" } ?? ""
            return "\(verb) \(count)\(failed)\(skipped)\(resumed)"
        case .failed:
            return ErrorKinds.describe(kind: transfer.errorKind, message: transfer.message) ?? "Failed."
        case .cancelled:
            return transfer.message.map(shownName) ?? "Cancelled."
        case .declined:
            return "Declined by \(shownName(transfer.peerAlias))."
        }
    }
}
