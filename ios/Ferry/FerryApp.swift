import FerryKit
import SwiftUI
import UIKit
import UserNotifications

@main
@MainActor
struct FerryApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var appDelegate
    @State private var model: FerryModel
    @State private var presentation: Presentation
    @State private var background: BackgroundTransfers
    @State private var localNetwork: LocalNetworkProbe
    @State private var networkWatch: NetworkWatch
    @Environment(\.scenePhase) private var scenePhase

    init() {
        let model = FerryModel(paths: AppFiles.paths, device: AppFiles.device)
        model.onFilesReceived = { [weak model] entry in
            guard let model, model.settings.saveMediaToPhotos else { return }
            let media = entry.files.compactMap { model.fileURL(for: $0) }.filter(PhotoSaver.isMedia)
            guard !media.isEmpty else { return }
            // Permission was asked when the setting was turned on; if it was taken back since,
            // the files stay in Ferry's folder (Files app) as always.
            Task { _ = try? await PhotoSaver.save(media) }
        }
        // Files saved without asking (quick save): a notification says so (FerryKit words it).
        model.onQuickSave = { QuickSaveNotification.post($0) }
        _model = State(initialValue: model)
        _presentation = State(initialValue: Presentation(model: model, inbox: ShareInbox()))
        _background = State(initialValue: BackgroundTransfers(model: model))
        _localNetwork = State(initialValue: LocalNetworkProbe(model: model))
        _networkWatch = State(initialValue: NetworkWatch(model: model))
    }

    var body: some Scene {
        WindowGroup {
            ContentView()
                .environment(model)
                .environment(presentation)
                .environment(presentation.inbox)
                // ferry://outbox (the share extension) and ferry://pair (a pairing code's QR
                // code, recognised by the Camera app).
                .onOpenURL { url in
                    switch FerryLink(url) {
                    case let .pairing(code):
                        Task { await model.pair(link: code) }
                    case .outbox:
                        presentation.inbox.open(url)
                    case nil:
                        break
                    }
                }
                .onChange(of: scenePhase, initial: true) { _, phase in
                    switch phase {
                    case .active:
                        if !model.hasActiveTransfers { AppFiles.clearOutgoingCopies() }
                        Task { await model.start() }
                        // Sends that broke while Ferry was in the background reconnect now.
                        model.cameToForeground()
                        localNetwork.start()
                        presentation.inbox.refresh()
                    case .background:
                        localNetwork.stop()
                        // A suspended app cannot answer: stop announcing and listening unless a
                        // transfer runs (BackgroundTransfers asks for the time to finish it).
                        if !model.hasActiveTransfers { model.stop() }
                    default:
                        break
                    }
                }
                .onChange(of: model.hasActiveTransfers, initial: true) { _, active in
                    background.update(active: active)
                    if !active, scenePhase == .background { model.stop() }
                }
        }
    }
}

/// Notifications: the share extension's hand-off ("Ready to send", whose tap opens the batch's
/// `ferry://outbox` URL here) may show quietly without asking (provisional authorization).
final class AppDelegate: NSObject, UIApplicationDelegate, UNUserNotificationCenterDelegate {
    func application(_ application: UIApplication,
                     didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil) -> Bool {
        let center = UNUserNotificationCenter.current()
        center.delegate = self
        center.requestAuthorization(options: [.alert, .sound, .provisional]) { _, _ in }
        return true
    }

    // Nonisolated: UserNotifications calls these off the main actor (the class is main-actor
    // isolated through UIApplicationDelegate); only the URL, a Sendable value, goes back to it.
    nonisolated func userNotificationCenter(_ center: UNUserNotificationCenter,
                                            didReceive response: UNNotificationResponse) async {
        guard let link = response.notification.request.content.userInfo["url"] as? String,
              let url = URL(string: link), url.scheme == "ferry" else { return }
        await MainActor.run { UIApplication.shared.open(url) }
    }

    nonisolated func userNotificationCenter(_ center: UNUserNotificationCenter,
                                            willPresent notification: UNNotification) async -> UNNotificationPresentationOptions {
        [.banner, .list]
    }
}

/// The notification for files saved without asking ("Saved 3 files from Anna's iPhone"); the
/// words and the escaping of the sender's alias come from FerryKit (`QuickSaveNotice`).
enum QuickSaveNotification {
    @MainActor
    static func post(_ notice: QuickSaveNotice) {
        let content = UNMutableNotificationContent()
        content.title = notice.title
        content.body = notice.body
        content.threadIdentifier = "quick-save"
        let request = UNNotificationRequest(identifier: notice.id, content: content, trigger: nil)
        UNUserNotificationCenter.current().add(request) { _ in }
    }
}

/// Where the app keeps things.
enum AppFiles {
    /// Received files go to Documents, which the Files app shows (UIFileSharingEnabled,
    /// LSSupportsOpeningDocumentsInPlace); settings, history and the identity to Application Support.
    static var paths: FerryPaths {
        FerryPaths(dataDirectory: URL.applicationSupportDirectory.appending(path: "Ferry", directoryHint: .isDirectory),
                   receiveDirectory: URL.documentsDirectory)
    }

    @MainActor
    static var device: DeviceInfo {
        let idiom = UIDevice.current.userInterfaceIdiom
        return DeviceInfo(defaultAlias: randomName(), model: UIDevice.current.model, kind: idiom == .mac ? .desktop : .mobile)
    }

    /// Copies made for sending (photo picker items), in a folder of their own each.
    static var outgoingCopies: URL {
        URL.temporaryDirectory.appending(path: "Outgoing", directoryHint: .isDirectory)
    }

    /// Removes leftover copies; only called while nothing is being sent.
    static func clearOutgoingCopies() {
        try? FileManager.default.removeItem(at: outgoingCopies)
    }

    /// A friendly default name, as LocalSend gives one ("Nice Orange"): since iOS 16 every
    /// iPhone is called "iPhone" to apps.
    private static func randomName() -> String {
        let adjectives = ["Brave", "Calm", "Clever", "Cozy", "Eager", "Gentle", "Happy", "Kind", "Lively", "Lucky",
                          "Nice", "Proud", "Quick", "Quiet", "Sunny", "Swift", "Tidy", "Witty"]
        let nouns = ["Apple", "Cherry", "Fig", "Grape", "Kiwi", "Lemon", "Lime", "Mango", "Melon", "Orange", "Papaya",
                     "Peach", "Pear", "Plum"]
        return "\(adjectives.randomElement() ?? "Nice") \(nouns.randomElement() ?? "Orange")"
    }
}
