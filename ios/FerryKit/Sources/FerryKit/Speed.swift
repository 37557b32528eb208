import Foundation

/// A transfer's speed, smoothed, and the time left: what a progress row (or a Live Activity)
/// shows. Pure: every reading takes the time it is for (`ContinuousClock.Instant`), so that it is
/// tested with made-up clocks.
///
/// Bytes are counted in steps of at least `step`; each step's rate goes into an exponential
/// moving average whose weight follows the step's length (`1 - e^(-length/smoothing)`), so that
/// irregular progress reports weigh by the time they cover and one burst moves the average by a
/// part only. A reading between steps treats the time since the last one as a step in progress:
/// when nothing arrives (a stall), the speed falls towards zero instead of staying where it was.
/// Nothing is said before `warmUp` of progress (the first figures of a transfer are noise).
public struct TransferSpeed: Hashable, Sendable {
    public typealias Instant = ContinuousClock.Instant

    /// How fast the average follows a change (the time constant).
    public var smoothing: Duration
    /// The shortest time a step of bytes is measured over.
    public var step: Duration
    /// No speed is told before progress came for this long.
    public var warmUp: Duration
    /// No time left is told when it would be longer than this (the speed says too little).
    public var longest: Duration

    /// Bytes per second, averaged over the steps so far (nil before the first step ended).
    private var average: Double?
    /// Where the current step started: the byte count and the time.
    private var stepBytes: Int64 = 0
    private var stepStart: Instant?
    /// The latest count and the first time progress was seen.
    private var latest: Int64 = 0
    private var firstSeen: Instant?
    private var lastChange: Instant?
    /// The next count comes after a jump that is not speed (see `expectJump`).
    private var jumpExpected = false

    public init(smoothing: Duration = .seconds(3), step: Duration = .seconds(1), warmUp: Duration = .seconds(2),
                longest: Duration = .seconds(48 * 3600)) {
        self.smoothing = smoothing
        self.step = step
        self.warmUp = warmUp
        self.longest = longest
    }

    /// The transfer's byte count is now `bytes` (it only counts bytes that moved: see `rebase`).
    public mutating func record(_ bytes: Int64, at now: Instant) {
        if jumpExpected {
            jumpExpected = false
            rebase(bytes, at: now)
            return
        }
        guard let start = stepStart else {
            stepStart = now
            stepBytes = bytes
            latest = bytes
            firstSeen = now
            lastChange = now
            return
        }
        if bytes < latest {
            // A file started again from zero (a retry): the count went back, not the speed.
            rebase(bytes, at: now)
            return
        }
        if bytes != latest { lastChange = now }
        latest = bytes
        let length = now - start
        guard length >= step else { return }
        average = Self.blend(average, rate: Double(bytes - stepBytes) / length.seconds, over: length, smoothing: smoothing)
        stepStart = now
        stepBytes = bytes
    }

    /// The count jumped to `bytes` without those bytes moving now (a file resumed where the
    /// receiver held it): counted from here, the average kept.
    public mutating func rebase(_ bytes: Int64, at now: Instant) {
        latest = bytes
        stepBytes = bytes
        stepStart = now
        if firstSeen == nil { firstSeen = now }
        lastChange = now
    }

    /// The next `record` comes with a jump that is not speed (a file resumed: the count it
    /// brings includes the bytes the receiver held), so it is taken as a `rebase`.
    public mutating func expectJump() {
        jumpExpected = true
    }

    /// Bytes per second at `now`, or nil while too little is known.
    public func bytesPerSecond(at now: Instant) -> Double? {
        guard let firstSeen, now - firstSeen >= warmUp, let start = stepStart else { return nil }
        let length = now - start
        // The step in progress counts once it is long enough (a stall lowers the speed).
        guard length >= step else { return average }
        return Self.blend(average, rate: Double(latest - stepBytes) / length.seconds, over: length, smoothing: smoothing)
    }

    /// Nothing arrived for `patience` (a stalled or reconnecting transfer).
    public func isStalled(at now: Instant, patience: Duration = .seconds(5)) -> Bool {
        guard let lastChange else { return false }
        return now - lastChange >= patience
    }

    /// The time left for `remaining` bytes at the current speed; nil while it means nothing: too
    /// early, nothing to go (`remaining` zero or less), stalled, or longer than `longest`.
    public func timeLeft(remaining: Int64, at now: Instant) -> Duration? {
        guard remaining > 0, !isStalled(at: now), let rate = bytesPerSecond(at: now), rate >= 1 else { return nil }
        let seconds = Double(remaining) / rate
        guard seconds <= longest.seconds else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    private static func blend(_ average: Double?, rate: Double, over length: Duration, smoothing: Duration) -> Double {
        guard let average else { return rate }
        let weight = 1 - exp(-length.seconds / max(smoothing.seconds, 0.001))
        return average + weight * (rate - average)
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

/// Sizes and speeds for people, the same on every platform: "0 bytes", "980 bytes", "1.5 KB",
/// "12.3 MB", "1.2 GB" (decimal units, as the Files app counts).
public enum ByteText {
    public static func size(_ bytes: Int64) -> String {
        if bytes < 1000 { return bytes == 1 ? "1 byte" : "\(max(bytes, 0)) bytes" }
        let units = ["KB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(bytes) / 1000
        var unit = 0
        while value >= 999.95, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        let digits = value < 100 ? 1 : 0
        return String(format: "%.\(digits)f", value) + " " + units[unit]
    }

    /// "2.4 MB/s".
    public static func speed(_ bytesPerSecond: Double) -> String {
        "\(size(Int64(bytesPerSecond.rounded())))/s"
    }

    /// "45 s left", "3 min left", "1 h 5 min left".
    public static func timeLeft(_ duration: Duration) -> String {
        let total = Int64(duration.seconds.rounded(.up))
        if total < 60 { return "\(max(total, 1)) s left" }
        let minutes = (total + 59) / 60
        if minutes < 60 { return "\(minutes) min left" }
        return "\(minutes / 60) h \(minutes % 60) min left"
    }
}
