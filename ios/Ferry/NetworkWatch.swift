import FerryKit
import Network

/// Tells the model when the network path changes (`NWPathMonitor`): when it comes back after a
/// drop, or changes (another Wi-Fi), running sends reconnect at once instead of waiting out
/// Ferry's back-off. FerryKit's `ReconnectTrigger` decides; this only reports.
@MainActor
final class NetworkWatch {
    private let monitor = NWPathMonitor()

    init(model: FerryModel) {
        // (Only Sendable values in the handler: the model is main-actor isolated.)
        monitor.pathUpdateHandler = { [model] path in
            let report = NetworkPath(satisfied: path.status == .satisfied, interfaces: path.availableInterfaces.map(\.name))
            Task { @MainActor in model.networkPathChanged(report) }
        }
        // Runs as long as the app (one watch, made at launch).
        monitor.start(queue: .main)
    }
}
