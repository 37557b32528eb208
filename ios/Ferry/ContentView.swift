import FerryKit
import SwiftUI

struct ContentView: View {
    @Environment(FerryModel.self) private var model
    @Environment(Presentation.self) private var presentation

    var body: some View {
        @Bindable var presentation = presentation
        TabView {
            NearbyView()
                .tabItem { Label("Nearby", systemImage: "dot.radiowaves.left.and.right") }
                .badge(model.transfers.filter { !$0.state.isFinished }.count)
            HistoryView()
                .tabItem { Label("History", systemImage: "clock.arrow.circlepath") }
            SettingsView()
                .tabItem { Label("Settings", systemImage: "gearshape") }
        }
        // Every sheet comes from here, one at a time (FerryKit's Presentation decides which):
        // an incoming request first, over the send sheet or the device picker for shared items,
        // which step aside and come back once it is answered. No other view presents a sheet, so
        // a request never goes away with a sheet that closes.
        .sheet(item: $presentation.sheet) { sheet in
            switch sheet {
            case let .request(request, _):
                RequestSheet(request: request)
                    .interactiveDismissDisabled()
            case let .send(device):
                SendSheet(device: device)
            case let .outbox(batch):
                OutboxPicker(batch: batch)
            }
        }
        // A pairing code opened as a link (the Camera app): its result, wherever the user is.
        .alert("Pairing", isPresented: showingLinkPairing) {
            Button("OK", role: .cancel) { model.dismissLinkPairing() }
        } message: {
            Text(model.linkPairing?.result?.message ?? "Asking the device in the code…")
        }
    }

    private var showingLinkPairing: Binding<Bool> {
        Binding(get: { @MainActor in model.linkPairing?.result != nil },
                set: { @MainActor shown in if !shown { model.dismissLinkPairing() } })
    }
}
