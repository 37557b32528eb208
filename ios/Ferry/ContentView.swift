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
        .presentsIncomingRequests()
        // Files shared from another app, waiting for a device.
        .sheet(item: $inbox.presented) { batch in
            OutboxPicker(batch: batch)
        }
    }
}

/// Incoming requests come up over whatever is on screen. A view that already presents a sheet
/// cannot present another, so the root and every sheet carry this, and the top-most one shows
/// the request: the oldest first, until it is answered or withdrawn by its sender.
struct IncomingRequestSheet: ViewModifier {
    @Environment(FerryModel.self) private var model

    func body(content: Content) -> some View {
        content.sheet(item: pendingRequest) { request in
            RequestSheet(request: request)
                .interactiveDismissDisabled()
        }
    }

    private var pendingRequest: Binding<PendingRequest?> {
        // Requests leave the list when answered or closed; nothing to write back.
        Binding(get: { model.requests.first }, set: { _ in })
    }
}

extension View {
    func presentsIncomingRequests() -> some View {
        modifier(IncomingRequestSheet())
    }
}
