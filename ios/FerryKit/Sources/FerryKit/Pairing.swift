import Foundation
import FerryCore

/// A QR code ready to draw: Ferry's modules (`qrCode(text:)`) inside the 4-module light margin
/// (quiet zone) that scanners need. Draw it dark on light whatever the app's appearance: many
/// scanners do not read inverted codes.
public struct QRMatrix: Hashable, Sendable {
    /// The light margin around the code, in modules.
    public static let quietZone = 4

    /// A row's run of dark modules: `length` modules from (`x`, `y`), quiet zone included.
    public struct Run: Hashable, Sendable {
        public var x: Int
        public var y: Int
        public var length: Int
    }

    /// Modules per side, the quiet zone included.
    public let side: Int
    /// The code's own modules per side (21 to 177).
    public let codeSize: Int
    private let dark: [Bool]

    /// The QR code of `text` (a pairing code, a link); nil when it does not fit in one.
    public init?(text: String) {
        guard let code = qrCode(text: text) else { return nil }
        let size = Int(code.size)
        guard size > 0, code.dark.count == size * size else { return nil }
        codeSize = size
        side = size + 2 * Self.quietZone
        dark = code.dark
    }

    /// Whether the module at (`x`, `y`) is dark (the quiet zone and outside are light).
    public func isDark(x: Int, y: Int) -> Bool {
        let cx = x - Self.quietZone
        let cy = y - Self.quietZone
        guard (0..<codeSize).contains(cx), (0..<codeSize).contains(cy) else { return false }
        return dark[cy * codeSize + cx]
    }

    /// The dark modules as runs along each row (fewer rectangles to draw).
    public var darkRuns: [Run] {
        var runs: [Run] = []
        for y in 0..<side {
            var x = 0
            while x < side {
                guard isDark(x: x, y: y) else {
                    x += 1
                    continue
                }
                let start = x
                while x < side, isDark(x: x, y: y) { x += 1 }
                runs.append(Run(x: start, y: y, length: x - start))
            }
        }
        return runs
    }
}

/// How pairing by code went, with a sentence for people.
public enum PairingResult: Hashable, Sendable {
    /// The device proved the code's fingerprint: it is trusted and kept as a favorite. `alias` is
    /// its own claim (show `message`, which escapes it).
    case paired(alias: String, fingerprint: String)
    /// A device answered at the code's address with another certificate: nothing was trusted.
    case fingerprintMismatch
    /// Nothing answered at the code's addresses.
    case nothingAnswered
    /// The text is no Ferry pairing code (or a damaged one).
    case notAFerryCode
    /// Ferry is not running.
    case notRunning
    case failed(message: String)

    public var succeeded: Bool {
        if case .paired = self { return true }
        return false
    }

    public var message: String {
        switch self {
        case let .paired(alias, _):
            "Paired with “\(shownName(alias))”. It is trusted now: its files are saved as Quick Save says."
        case .fingerprintMismatch:
            "Another device answered than the one in the code. Nothing was trusted."
        case .nothingAnswered:
            "No device answered at the code’s addresses. Check that both devices are on the same network and Ferry is open on the other one."
        case .notAFerryCode:
            "This is not a Ferry pairing code."
        case .notRunning:
            "Ferry is not running."
        case let .failed(message):
            message
        }
    }
}

/// The `ferry:` links Ferry opens: a pairing code (from a QR code the Camera app recognised)
/// or the share extension's hand-off.
public enum FerryLink: Hashable, Sendable {
    /// `ferry://pair?...`: the whole text, for `FerryModel.pair(code:)`.
    case pairing(String)
    /// `ferry://outbox?id=...`: for `ShareInbox.open(_:)`.
    case outbox(URL)

    public init?(_ url: URL) {
        guard url.scheme?.lowercased() == "ferry" else { return nil }
        switch url.host(percentEncoded: false)?.lowercased() {
        case "pair": self = .pairing(url.absoluteString)
        case "outbox": self = .outbox(url)
        default: return nil
        }
    }

    /// Whether scanned or pasted text looks like a pairing code (Ferry checks it strictly).
    public static func isPairingCode(_ text: String) -> Bool {
        text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased().hasPrefix("ferry://pair?")
    }
}

extension PairingResult {
    /// The result of `FerryNode.pair` failing with `error`.
    init(error: any Error) {
        switch ErrorKinds.kind(of: error) {
        case ErrorKinds.invalidInput, ErrorKinds.protocol: self = .notAFerryCode
        case ErrorKinds.fingerprintMismatch: self = .fingerprintMismatch
        case ErrorKinds.network, ErrorKinds.timeout: self = .nothingAnswered
        default: self = .failed(message: ErrorKinds.message(for: error))
        }
    }
}

/// A pairing that came as a link: its code, and its result once there is one.
public struct LinkPairing: Hashable, Sendable {
    public var code: String
    public var result: PairingResult?
}
