import Foundation
import FerryCore

/// What kind of device this is, as LocalSend tells others (its `deviceType`).
public enum DeviceType: String, Codable, CaseIterable, Identifiable, Sendable {
    case mobile, desktop, web, headless, server

    public var id: String { rawValue }

    init(_ kind: DeviceKind) {
        switch kind {
        case .mobile: self = .mobile
        case .desktop: self = .desktop
        case .web: self = .web
        case .headless: self = .headless
        case .server: self = .server
        }
    }

    var ffi: DeviceKind {
        switch self {
        case .mobile: .mobile
        case .desktop: .desktop
        case .web: .web
        case .headless: .headless
        case .server: .server
        }
    }
}

/// A device in the nearby list: found now, or a favorite that is not around.
public struct NearbyDevice: Identifiable, Hashable, Sendable {
    public var fingerprint: String
    public var alias: String
    public var kind: DeviceType
    public var model: String?
    /// `host:port` to reach it, or nil.
    public var address: String?
    /// A TLS handshake proved its fingerprint.
    public var verified: Bool
    public var encryption: Bool
    public var favorite: Bool
    /// Found by discovery (or answered) in this run; false for a favorite not seen.
    public var online: Bool

    public var id: String { fingerprint }

    public init(fingerprint: String, alias: String, kind: DeviceType, model: String?, address: String?,
                verified: Bool, encryption: Bool, favorite: Bool, online: Bool) {
        self.fingerprint = fingerprint
        self.alias = alias
        self.kind = kind
        self.model = model
        self.address = address
        self.verified = verified
        self.encryption = encryption
        self.favorite = favorite
        self.online = online
    }
}

/// A file offered in a request.
public struct RequestFile: Identifiable, Hashable, Sendable {
    public var id: String
    public var name: String
    public var size: Int64
    public var mimeType: String
}

/// A transfer waiting for the user's answer.
public struct PendingRequest: Identifiable, Hashable, Sendable {
    public var sessionId: String
    public var senderAlias: String
    public var senderModel: String?
    public var senderKind: DeviceType
    public var senderFingerprint: String
    public var senderAddress: String
    /// Its certificate proved the fingerprint (HTTPS).
    public var verified: Bool
    public var trusted: Bool
    /// The code both users compare ("1234 5678 9012 3456").
    public var verificationCode: String
    public var files: [RequestFile]
    public var totalSize: Int64
    /// Empty folders the request also creates: with `files`, what the user accepts.
    public var emptyFolders: Int
    public var receivedAt: Date

    public var id: String { sessionId }
}

/// Someone sent wrong PINs to this device (Ferry tells at most one every 2 seconds, and when a
/// lock starts): shown until the user dismisses it.
public struct PinWarning: Hashable, Sendable {
    /// The address the last wrong PIN came from, as the node saw it (show `shownAddress`).
    public var address: String
    /// Wrong PINs this device counted recently, from every address together.
    public var failures: Int
    /// Until when PIN checks are locked for everyone but trusted devices; nil when they are not.
    public var lockedUntil: Date?
    /// When the last wrong PIN was told.
    public var date: Date

    /// `address` made safe to show on one line.
    public var shownAddress: String { shownName(address) }

    /// Whether PIN checks are locked at `now`.
    public func isLocked(at now: Date = .now) -> Bool {
        guard let lockedUntil else { return false }
        return now < lockedUntil
    }
}

public enum Direction: String, Codable, Sendable {
    case send, receive
}

public enum TransferState: String, Codable, Sendable {
    /// Connecting, or waiting for the receiver's answer.
    case waiting
    case running
    case done
    case failed
    case cancelled
    case declined

    public var isFinished: Bool { self != .waiting && self != .running }
}

/// A transfer, sent or received, while it runs and after it ended (until dismissed).
public struct Transfer: Identifiable, Hashable, Sendable {
    /// "send-<start ms>-N" or "receive-<session id>"; also the id of its `HistoryEntry` once it ends.
    public var id: String
    public var direction: Direction
    public var peerAlias: String
    public var peerFingerprint: String?
    public var fileNames: [String]
    public var bytesDone: Int64
    public var bytesTotal: Int64
    public var filesDone: Int
    public var filesFailed: Int
    public var state: TransferState
    /// Why it failed, or a notice, for people.
    public var message: String?
    /// The stable error kind of a failed send (`ErrorKinds`).
    public var errorKind: String?
    public var startedAt: Date
    /// Files not sent because the receiver has them already (or its user left them out).
    public var filesSkipped: Int = 0
    /// Where the latest resumed file continued: the bytes the receiver held from an interrupted
    /// transfer, which did not have to move again.
    public var resumedAt: Int64?
    /// The connection broke and Ferry is reconnecting (a send), or waits for the sender to come
    /// back (a receive); cleared when bytes move again.
    public var reconnecting = false
    /// The smoothed speed and time left (read them with the time: `speedText(at:)`).
    public var speed = TransferSpeed()

    /// 0...1, or nil while the size is unknown.
    public var fraction: Double? {
        guard bytesTotal > 0 else { return nil }
        return min(max(Double(bytesDone) / Double(bytesTotal), 0), 1)
    }

    /// "Resumed at 12.3 MB", once a file continued where an interrupted transfer stopped.
    public var resumedText: String? {
        resumedAt.map { "Resumed at \(ByteText.size($0))" }
    }

    /// "1 file skipped", "3 files skipped" (the receiver had them), or nil.
    public var skippedText: String? {
        guard filesSkipped > 0 else { return nil }
        return filesSkipped == 1 ? "1 file skipped" : "\(filesSkipped) files skipped"
    }

    /// "2.4 MB/s · 3 min left" while it runs and something meaningful can be said;
    /// "Reconnecting…" after a break; nil otherwise (too early, finished).
    public func speedText(at now: ContinuousClock.Instant) -> String? {
        guard state == .running else { return nil }
        if reconnecting { return "Reconnecting…" }
        guard let rate = speed.bytesPerSecond(at: now) else { return nil }
        if speed.isStalled(at: now) { return "Stalled" }
        guard let left = speed.timeLeft(remaining: bytesTotal - bytesDone, at: now) else { return ByteText.speed(rate) }
        return "\(ByteText.speed(rate)) · \(ByteText.timeLeft(left))"
    }
}

/// A text message that arrived.
public struct ReceivedText: Identifiable, Hashable, Sendable {
    public var id: Int
    public var senderAlias: String
    public var senderFingerprint: String
    public var verified: Bool
    public var text: String
    public var receivedAt: Date
}

/// A trusted device and the code to compare with its user.
public struct TrustedEntry: Identifiable, Hashable, Sendable {
    public var fingerprint: String
    public var alias: String?
    public var verificationCode: String

    public var id: String { fingerprint }
}

/// The node's state.
public enum NodeState: Hashable, Sendable {
    case stopped
    case running(fingerprint: String, port: Int)
    case failed(message: String)

    public var isRunning: Bool {
        if case .running = self { return true }
        return false
    }

    public var port: Int? {
        if case let .running(_, port) = self { return port }
        return nil
    }

    public var fingerprint: String? {
        if case let .running(fingerprint, _) = self { return fingerprint }
        return nil
    }
}

/// A file or folder to send.
public enum OutgoingItem: Hashable, Sendable {
    /// A file or folder the app may read as it is.
    case file(URL)
    /// A URL from the document picker: read within its security scope, which is given up when
    /// the send ends.
    case securityScoped(URL)
    /// A copy made for this send (e.g. from the photo picker): deleted when the send ends (the
    /// file only; the app clears the folders it makes such copies in).
    case temporary(URL)

    public var url: URL {
        switch self {
        case let .file(url), let .securityScoped(url), let .temporary(url): url
        }
    }
}

/// Errors of the model itself (Ferry's own come as `FerryError`; see `ErrorKinds.message(for:)`).
public enum FerryModelError: LocalizedError, Equatable, Sendable {
    case notRunning
    case unreachable(alias: String)
    case nothingToSend

    public var errorDescription: String? {
        switch self {
        case .notRunning: "Ferry is not running."
        case let .unreachable(alias): "\(alias) cannot be reached: it has no known address."
        case .nothingToSend: "There is nothing to send."
        }
    }
}

/// The stable kinds of `Transfer.errorKind` and of Ferry's errors (ferry-ffi's error kinds),
/// and sentences for people.
public enum ErrorKinds {
    public static let invalidInput = "invalid_input"
    public static let io = "io"
    public static let storageFull = "storage_full"
    public static let permissionDenied = "permission_denied"
    public static let network = "network"
    public static let timeout = "timeout"
    public static let tls = "tls"
    public static let fingerprintMismatch = "fingerprint_mismatch"
    public static let pinRequired = "pin_required"
    public static let invalidPin = "invalid_pin"
    public static let tooManyAttempts = "too_many_attempts"
    public static let declined = "declined"
    public static let busy = "busy"
    public static let checksumMismatch = "checksum_mismatch"
    public static let `protocol` = "protocol"
    public static let cancelled = "cancelled"
    public static let `internal` = "internal"

    /// The kind of an error thrown by Ferry, or nil for other errors.
    public static func kind(of error: any Error) -> String? {
        guard let error = error as? FerryError else { return nil }
        return split(error).kind
    }

    /// A sentence for people about any error thrown by the model.
    public static func message(for error: any Error) -> String {
        if let error = error as? FerryError {
            let (kind, message) = split(error)
            return describe(kind: kind, message: message) ?? shownName(message)
        }
        return error.localizedDescription
    }

    /// A sentence for people about a failure of this kind; `message` (Ferry's own words) where
    /// the kind says too little.
    public static func describe(kind: String?, message: String?) -> String? {
        switch kind {
        case pinRequired: "This device asks for a PIN. Send again with its PIN."
        case invalidPin: "The PIN was wrong."
        case tooManyAttempts: "Too many wrong PINs: this device is blocked for a while."
        case declined: "Declined."
        case busy: "The device is busy with another transfer."
        case cancelled: "Cancelled."
        case timeout: "The device did not answer in time."
        case fingerprintMismatch: "Another device answered than the one expected."
        case storageFull: "The storage is full."
        case permissionDenied: "Ferry may not read or write that file."
        case network: message.map { "The device could not be reached (\(shownName($0)))." } ?? "The device could not be reached."
        default: message.map(shownName)
        }
    }

    private static func split(_ error: FerryError) -> (kind: String, message: String) {
        switch error {
        case let .InvalidInput(message): (invalidInput, message)
        case let .Io(message): (io, message)
        case let .StorageFull(message): (storageFull, message)
        case let .PermissionDenied(message): (permissionDenied, message)
        case let .Network(message): (network, message)
        case let .Timeout(message): (timeout, message)
        case let .Tls(message): (tls, message)
        case let .FingerprintMismatch(message): (fingerprintMismatch, message)
        case let .PinRequired(message): (pinRequired, message)
        case let .InvalidPin(message): (invalidPin, message)
        case let .TooManyAttempts(message): (tooManyAttempts, message)
        case let .Declined(message): (declined, message)
        case let .Busy(message): (busy, message)
        case let .ChecksumMismatch(message): (checksumMismatch, message)
        case let .Protocol(message): (`protocol`, message)
        case let .Cancelled(message): (cancelled, message)
        case let .Internal(message): (`internal`, message)
        }
    }
}
