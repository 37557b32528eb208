import FerryKit
import SwiftUI

extension DeviceType {
    var title: String {
        switch self {
        case .mobile: "Phone or tablet"
        case .desktop: "Computer"
        case .web: "Web browser"
        case .headless: "Command line"
        case .server: "Server"
        }
    }

    var systemImage: String {
        switch self {
        case .mobile: "iphone"
        case .desktop: "desktopcomputer"
        case .web: "globe"
        case .headless: "terminal"
        case .server: "server.rack"
        }
    }
}

extension QuickSave {
    var title: String {
        switch self {
        case .off: "Off"
        case .trusted: "Trusted devices"
        case .everyone: "Everyone"
        }
    }
}

extension Int64 {
    var bytes: String { formatted(.byteCount(style: .file)) }
}

/// A device's symbol, name and details, as a list row shows it.
struct DeviceRow: View {
    let device: NearbyDevice

    var body: some View {
        HStack(spacing: 12) {
            Image(systemName: device.kind.systemImage)
                .font(.title2)
                .foregroundStyle(.tint)
                .frame(width: 36)
                .accessibilityHidden(true)
            VStack(alignment: .leading, spacing: 2) {
                HStack(spacing: 4) {
                    Text(shownName(device.alias))
                        .foregroundStyle(.primary)
                    if device.verified {
                        Image(systemName: "checkmark.seal.fill")
                            .foregroundStyle(.green)
                            .imageScale(.small)
                            .accessibilityHidden(true)
                    }
                }
                Text(details)
                    .font(.caption)
                    .foregroundStyle(.secondary)
            }
            Spacer(minLength: 8)
            if device.favorite {
                Image(systemName: "star.fill")
                    .foregroundStyle(.yellow)
                    .accessibilityHidden(true)
            }
        }
        .opacity(device.online ? 1 : 0.45)
        .accessibilityElement(children: .combine)
        .accessibilityLabel(accessibilityText)
    }

    private var details: String {
        var parts = [device.model.map(shownName) ?? device.kind.title]
        if !device.online { parts.append("away") } else if let address = device.address { parts.append(address) }
        return parts.joined(separator: " · ")
    }

    private var accessibilityText: String {
        var parts = [shownName(device.alias), device.model.map(shownName) ?? device.kind.title]
        if device.verified { parts.append("verified") }
        if device.favorite { parts.append("favorite") }
        if !device.online { parts.append("not nearby now") }
        return parts.joined(separator: ", ")
    }
}

/// The 16-digit code two users compare, large, in its four groups.
struct VerificationCodeView: View {
    let code: String
    var font: Font = .system(.title, design: .monospaced, weight: .semibold)

    var body: some View {
        let groups = code.split(separator: " ").map(String.init)
        let half = (groups.count + 1) / 2
        ViewThatFits(in: .horizontal) {
            Text(groups.joined(separator: " "))
            VStack(spacing: 4) {
                Text(groups.prefix(half).joined(separator: " "))
                Text(groups.dropFirst(half).joined(separator: " "))
            }
        }
        .font(font)
        .monospacedDigit()
        .lineLimit(1)
        .textSelection(.enabled)
        .accessibilityElement(children: .ignore)
        .accessibilityLabel("Verification code")
        // Read digit by digit, with a pause between groups.
        .accessibilityValue(groups.map { group in group.map { String($0) }.joined(separator: " ") }.joined(separator: ", "))
    }
}
