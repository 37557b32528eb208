import FerryKit
import UIKit

/// Asks iOS for time to finish transfers when the app leaves the screen. A background task runs
/// while any transfer does. Shortly before iOS takes the time back, the transfers are cancelled
/// and their ends awaited (FerryKit's `cancelAll(waitingAtMost:)`: each end in the history,
/// partial files removed by Ferry) before the task ends. Should iOS cut that short, what did not
/// end is recorded as interrupted at the next launch, when the node also removes partial files.
@MainActor
final class BackgroundTransfers {
    /// Cancelling starts when this much background time is left, so that it can finish.
    private static let margin: TimeInterval = 10

    private let model: FerryModel
    private var task: UIBackgroundTaskIdentifier = .invalid
    private var watch: Task<Void, Never>?

    init(model: FerryModel) {
        self.model = model
    }

    /// Called whenever whether a transfer runs changes.
    func update(active: Bool) {
        if active {
            begin()
        } else {
            end()
        }
    }

    private func begin() {
        guard task == .invalid else { return }
        task = UIApplication.shared.beginBackgroundTask(withName: "Ferry transfers") { [weak self] in
            // Called on the main thread, just before the app is suspended.
            MainActor.assumeIsolated {
                self?.expire()
            }
        }
        // (backgroundTimeRemaining is huge while the app is in the foreground.)
        watch = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                guard let self else { return }
                let left = UIApplication.shared.backgroundTimeRemaining
                guard left < Self.margin else { continue }
                await self.model.cancelAll(waitingAtMost: .seconds(max(left - 3, 1)))
                self.end()
                return
            }
        }
    }

    /// The last moment: whatever still runs is cancelled, and the task must end now.
    private func expire() {
        model.cancelAll()
        end()
    }

    private func end() {
        watch?.cancel()
        watch = nil
        guard task != .invalid else { return }
        UIApplication.shared.endBackgroundTask(task)
        task = .invalid
    }
}
