import FerryOutbox
import Foundation
import FerryCore

/// Who may send without being asked.
public enum QuickSave: String, Codable, CaseIterable, Identifiable, Sendable {
    /// Every transfer is asked about, from trusted devices too.
    case off
    /// Trusted (verified) devices are saved at once; others are asked about.
    case trusted
    /// Everything is saved at once.
    case everyone

    public var id: String { rawValue }

    var receiveMode: ReceiveMode {
        switch self {
        case .off: .askAll
        case .trusted: .ask
        case .everyone: .acceptAll
        }
    }
}

/// A device kept in the list even when it is not around, reached directly at `address`.
public struct Favorite: Codable, Hashable, Sendable {
    public var fingerprint: String
    public var alias: String
    /// `host:port`, or nil.
    public var address: String?
    public var kind: DeviceType

    public init(fingerprint: String, alias: String, address: String?, kind: DeviceType = .mobile) {
        self.fingerprint = fingerprint
        self.alias = alias
        self.address = address
        self.kind = kind
    }
}

/// A setting that cannot be used, with a sentence for people.
public struct SettingsError: LocalizedError, Equatable, Sendable {
    public let message: String
    public var errorDescription: String? { message }
}

public struct Settings: Codable, Hashable, Sendable {
    public static let defaultPort = 53317
    public static let maxAlias = 64
    public static let maxPin = 32

    /// The name others see.
    public var alias: String
    public var deviceKind: DeviceType
    /// 53317 is LocalSend's port; 0 takes any free one.
    public var port: Int
    /// HTTPS (every LocalSend app's default) or plain HTTP.
    public var encryption: Bool
    /// A PIN senders must give, or nil.
    public var pin: String?
    public var quickSave: QuickSave
    /// Off: requests are declined at once and texts are ignored (sending still works).
    public var receiving: Bool
    /// Received photos and videos are also added to the photo library.
    public var saveMediaToPhotos: Bool
    /// Files the receive folder already has (same path and size, and the same checksum or
    /// modified time) are left out: the sender sees them as skipped.
    public var skipExisting: Bool
    public var favorites: [Favorite]

    public init(alias: String, deviceKind: DeviceType = .mobile, port: Int = Settings.defaultPort, encryption: Bool = true,
                pin: String? = nil, quickSave: QuickSave = .off, receiving: Bool = true, saveMediaToPhotos: Bool = false,
                favorites: [Favorite] = [], skipExisting: Bool = false) {
        self.alias = alias
        self.deviceKind = deviceKind
        self.port = port
        self.encryption = encryption
        self.pin = pin
        self.quickSave = quickSave
        self.receiving = receiving
        self.saveMediaToPhotos = saveMediaToPhotos
        self.favorites = favorites
        self.skipExisting = skipExisting
    }

    private enum CodingKeys: String, CodingKey {
        case alias, deviceKind, port, encryption, pin, quickSave, receiving, saveMediaToPhotos, favorites, skipExisting
    }

    /// Missing keys (a file from an older version) take their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(alias: try c.decode(String.self, forKey: .alias))
        deviceKind = try c.decodeIfPresent(DeviceType.self, forKey: .deviceKind) ?? deviceKind
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? port
        encryption = try c.decodeIfPresent(Bool.self, forKey: .encryption) ?? encryption
        pin = try c.decodeIfPresent(String.self, forKey: .pin)
        quickSave = try c.decodeIfPresent(QuickSave.self, forKey: .quickSave) ?? quickSave
        receiving = try c.decodeIfPresent(Bool.self, forKey: .receiving) ?? receiving
        saveMediaToPhotos = try c.decodeIfPresent(Bool.self, forKey: .saveMediaToPhotos) ?? saveMediaToPhotos
        favorites = try c.decodeIfPresent([Favorite].self, forKey: .favorites) ?? []
        skipExisting = try c.decodeIfPresent(Bool.self, forKey: .skipExisting) ?? skipExisting
    }

    /// These settings, tidied (alias trimmed, an empty PIN is none), or a `SettingsError`.
    public func validated() throws -> Settings {
        var s = self
        s.alias = alias.trimmingCharacters(in: .whitespacesAndNewlines)
        if let pin, pin.isEmpty { s.pin = nil }
        guard !s.alias.isEmpty else { throw SettingsError(message: "The device name cannot be empty.") }
        guard s.alias.count <= Self.maxAlias else {
            throw SettingsError(message: "The device name is longer than \(Self.maxAlias) characters.")
        }
        guard s.port == 0 || (1024...65535).contains(s.port) else {
            throw SettingsError(message: "The port must be between 1024 and 65535.")
        }
        if let pin = s.pin {
            guard pin.count <= Self.maxPin else { throw SettingsError(message: "The PIN must have 1 to \(Self.maxPin) characters.") }
            guard !pin.contains(where: \.isWhitespace) else { throw SettingsError(message: "The PIN cannot contain spaces.") }
        }
        return s
    }

    /// Whether going from these settings to `other` needs the node restarted.
    public func needsRestart(for other: Settings) -> Bool {
        alias != other.alias || deviceKind != other.deviceKind || port != other.port || encryption != other.encryption
            || pin != other.pin || quickSave != other.quickSave || receiving != other.receiving || skipExisting != other.skipExisting
    }
}

/// Settings in a JSON file, written atomically (a temporary file renamed over the old one).
public struct SettingsStore: Sendable {
    public let url: URL

    public init(url: URL) {
        self.url = url
    }

    /// The saved settings; nil when there are none or they cannot be used.
    public func load() -> Settings? {
        guard let data = try? Data(contentsOf: url),
              let settings = try? JSONDecoder().decode(Settings.self, from: data) else { return nil }
        return try? settings.validated()
    }

    public func save(_ settings: Settings) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(settings), to: url)
    }
}
