import FerryKit
import SwiftUI

struct ContentView: View {
    @Environment(FerryModel.self) private var model
    @Environment(ShareInbox.self) private var inbox

    var body: some View {
        @Bindable var inbox = inbox
        TabView {
            NearbyView()
                .tabItem { Label("Nearby", systemImage: "dot.radiowaves.left.and.right") }
                .badge(model.transfers.filter { !$0.state.isFinished }.count)
            HistoryView()
                .tabItem { Label("History", systemImage: "clock.arrow.circlepath") }
            SettingsView()
                .tabItem { Label("Settings", systemImage: "gearshape") }
        }
        // The oldest request first; the sheet stays until it is answered or withdrawn.
        .sheet(item: pendingRequest) { request in
            RequestSheet(request: request)
                .interactiveDismissDisabled()
        }
        // Files shared from another app, waiting for a device.
        .sheet(item: $inbox.presented) { batch in
            OutboxPicker(batch: batch)
        }
    }

    private var pendingRequest: Binding<PendingRequest?> {
        // Requests leave the list when answered or closed by the sender; nothing to write back.
        Binding(get: { model.requests.first }, set: { _ in })
    }
}
