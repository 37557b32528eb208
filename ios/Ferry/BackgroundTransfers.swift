import FerryKit
import UIKit

/// Asks iOS for time to finish transfers when the app leaves the screen. A background task
/// runs while any transfer does; when iOS takes the time back, the transfers are cancelled (Ferry
/// removes partial files) before the app is suspended.
@MainActor
final class BackgroundTransfers {
    private let model: FerryModel
    private var task: UIBackgroundTaskIdentifier = .invalid

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
    }

    private func expire() {
        model.cancelAll()
        end()
    }

    private func end() {
        guard task != .invalid else { return }
        UIApplication.shared.endBackgroundTask(task)
        task = .invalid
    }
}
