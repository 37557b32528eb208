import FerryKit
import Network

/// Finds out whether iOS lets Ferry use the local network, which the user may have refused
/// (Settings › Privacy & Security › Local Network): Ferry's own sockets then fail without saying
/// why, but a Bonjour browse is refused with a "policy denied" error. The model is told
/// (`reportLocalNetwork`), and the nearby list explains instead of looking for ever. The browsed
/// type is listed in Info.plist (NSBonjourServices); nothing needs to answer it.
@MainActor
final class LocalNetworkProbe {
    /// kDNSServiceErr_PolicyDenied.
    private nonisolated static let policyDenied: Int32 = -65570

    private let model: FerryModel
    private var browser: NWBrowser?

    init(model: FerryModel) {
        self.model = model
    }

    func start() {
        guard browser == nil else { return }
        let browser = NWBrowser(for: .bonjour(type: "_ferry._tcp", domain: nil), using: .tcp)
        // (Only Sendable values in the handler: the model is main-actor isolated.)
        browser.stateUpdateHandler = { [model] state in
            let access: LocalNetworkAccess
            switch state {
            case let .waiting(error), let .failed(error):
                guard case let .dns(code) = error, code == Self.policyDenied else { return }
                access = .denied
            case .ready:
                // Browsing runs: not refused (iOS may still be asking the user).
                access = .unknown
            default:
                return
            }
            Task { @MainActor in model.reportLocalNetwork(access) }
        }
        browser.start(queue: .main)
        self.browser = browser
    }

    func stop() {
        browser?.cancel()
        browser = nil
    }
}
