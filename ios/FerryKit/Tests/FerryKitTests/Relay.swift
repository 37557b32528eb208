// A TCP relay on 127.0.0.1 in front of a node, to break a transfer as a network drop does: the
// sender's side of every connection is cut once so many bytes went towards the node, while the
// node's side stays open (it does not see the break), and new connections are refused until
// `restore()`. Plain POSIX sockets and threads, so that it runs on Linux and on a Mac.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct RelayError: Error, CustomStringConvertible {
    let what: String
    var description: String { "relay: \(what) failed (errno \(errno))" }
}

final class Relay: @unchecked Sendable {
    /// Where senders connect.
    let port: Int
    private let target: Int
    private let listener: Int32
    // Everything below is guarded by `lock`.
    private let lock = NSLock()
    private var cutAt = Int.max
    private var forwarded = 0
    private var refusing = false
    private var closed = false
    private var cutCount = 0
    private var refusedCount = 0
    private var acceptedCount = 0
    private var connections: [Connection] = []

    /// One relayed connection: the sender's socket is closed only under its lock, so that the
    /// pump towards the sender never writes to a closed (or reused) descriptor.
    private final class Connection: @unchecked Sendable {
        let client: Int32
        let server: Int32
        let lock = NSLock()
        var clientOpen = true

        init(client: Int32, server: Int32) {
            self.client = client
            self.server = server
        }

        /// Writes to the sender; false once it is cut.
        func toClient(_ bytes: UnsafeRawBufferPointer) -> Bool {
            lock.withLock { clientOpen && writeAll(client, bytes) }
        }

        /// The sender's side goes at once, with a reset (as a dropped network looks to it).
        func cutClient() {
            lock.withLock {
                guard clientOpen else { return }
                clientOpen = false
                var hard = linger(l_onoff: 1, l_linger: 0)
                setsockopt(client, SOL_SOCKET, SO_LINGER, &hard, socklen_t(MemoryLayout<linger>.size))
                closeFD(client)
            }
        }
    }

    init(to target: Int) throws {
        self.target = target
        let fd = socket(AF_INET, Relay.stream, 0)
        guard fd >= 0 else { throw RelayError(what: "socket") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Relay.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            closeFD(fd)
            throw RelayError(what: "bind")
        }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: local.sin_port))
        listener = fd
        Thread { [self] in acceptLoop() }.start()
    }

    /// Cuts once `bytes` in all (from now) went towards the node, then refuses connections.
    func cut(after bytes: Int) {
        lock.withLock { cutAt = forwarded + bytes }
    }

    /// How many cuts happened.
    var cuts: Int { lock.withLock { cutCount } }
    /// Connections refused (after a cut) and relayed.
    var refused: Int { lock.withLock { refusedCount } }
    var accepted: Int { lock.withLock { acceptedCount } }

    /// Connections are taken again.
    func restore() {
        lock.withLock { refusing = false }
    }

    /// Everything closes.
    func close() {
        let open: [Connection] = lock.withLock {
            closed = true
            return connections
        }
        shutdown(listener, Int32(SHUT_RDWR))
        for c in open {
            c.cutClient()
            shutdown(c.server, Int32(SHUT_RDWR))
        }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if lock.withLock({ closed }) {
                if client >= 0 { closeFD(client) }
                closeFD(listener)
                return
            }
            guard client >= 0 else { continue }
            let refuse = lock.withLock {
                if refusing { refusedCount += 1 } else { acceptedCount += 1 }
                return refusing
            }
            if refuse {
                closeFD(client)
                continue
            }
            let server = socket(AF_INET, Relay.stream, 0)
            var address = Relay.loopback(port: UInt16(target))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                closeFD(client)
                closeFD(server)
                continue
            }
            let connection = Connection(client: client, server: server)
            lock.withLock { connections.append(connection) }
            Thread { [self] in up(connection) }.start()
            Thread { [self] in down(connection) }.start()
        }
    }

    /// Sender to node: counts, and cuts at the mark (the node's side stays open).
    private func up(_ c: Connection) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(c.client, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            let (keep, cutNow): (Int, Bool) = lock.withLock {
                let room = cutAt - forwarded
                guard n >= room else {
                    forwarded += n
                    return (n, false)
                }
                forwarded += max(room, 0)
                cutAt = Int.max
                refusing = true
                cutCount += 1
                return (max(room, 0), true)
            }
            let written = buffer.withUnsafeBytes { writeAll(c.server, UnsafeRawBufferPointer(rebasing: $0.prefix(keep))) }
            if cutNow {
                c.cutClient()
                return
            }
            guard written else { break }
        }
        c.cutClient()
        shutdown(c.server, Int32(SHUT_RDWR))
    }

    /// Node to sender, while the sender's side is there.
    private func down(_ c: Connection) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(c.server, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            let sent = buffer.withUnsafeBytes { c.toClient(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            guard sent else { break }
        }
    }

    private static var stream: Int32 {
        #if canImport(Glibc)
        Int32(SOCK_STREAM.rawValue)
        #else
        SOCK_STREAM
        #endif
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        return address
    }
}

/// Writes every byte (false on an error).
private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0, errno == EINTR { continue }
        guard n > 0 else { return false }
        offset += n
    }
    return true
}

/// `close(2)` (Relay has a `close()` of its own).
private func closeFD(_ fd: Int32) {
    _ = close(fd)
}
