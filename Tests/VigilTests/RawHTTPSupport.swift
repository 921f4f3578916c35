import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import VigilCore
import VigilServer

/// Runs Vigil's real HTTP server (the one `vigil serve` builds) with `config` over a fresh store
/// (SQLite unless told) on a free loopback port, and `body` with that port; the server stops afterwards.
func withListeningServer<T: Sendable>(_ config: VigilConfig = VigilConfig(), backend: Backend = .sqlite, logger: Logger = quietLogger,
                                      _ body: @escaping @Sendable (Int, Harness) async throws -> T) async throws -> T {
    var config = config
    config.host = "127.0.0.1"
    config.port = 0
    let server = config
    return try await withStore(backend) { store in
        try await withListeningServer(Harness(store: store, config: server), logger: logger, body)
    }
}

private func withListeningServer<T: Sendable>(_ h: Harness, logger: Logger,
                                              _ body: @escaping @Sendable (Int, Harness) async throws -> T) async throws -> T {
    let (ports, portSink) = AsyncStream<Int>.makeStream()
    let app = buildApplication(h.services, logger: logger) { channel in
        portSink.yield(channel.localAddress?.port ?? 0)
        portSink.finish()
    }
    let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
    return try await withThrowingTaskGroup(of: T?.self) { tasks in
        tasks.addTask {
            try await group.run()
            return nil
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TestFailure(description: "the server did not start") }
        let result: Result<T, any Error>
        do { result = .success(try await body(port, h)) } catch { result = .failure(error) }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return try result.get()
    }
}

/// One HTTP response as read off the wire.
struct RawResponse: Sendable {
    let status: Int
    let headers: [(name: String, value: String)]
    let body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A plain TCP connection to the server, for what an HTTP client library will not send
/// (malformed framing, bodies written before reading, silence).
struct RawConnection: ~Copyable {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var buffer: [UInt8] = []
    private(set) var closedByServer = false

    /// Connects to 127.0.0.1:`port` and runs `body`; the connection is closed afterwards.
    static func with<T: Sendable>(port: Int, _ body: (inout RawConnection) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = RawConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    private init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound
        self.outbound = outbound
    }

    /// Sends `method path` with `headers` and `body`, and reads the answer (the connection stays open).
    mutating func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: String = "") async throws -> RawResponse {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: vigil\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { text += "Content-Length: \(body.utf8.count)\r\n" }
        try await send(text + "\r\n" + body)
        guard let response = try await response(bodyless: method == "HEAD") else {
            throw TestFailure(description: "the server closed the connection instead of answering \(method) \(path)")
        }
        return response
    }

    func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    func send(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    /// Reads more bytes; false once the server has closed its side.
    private mutating func fill() async throws -> Bool {
        guard !closedByServer else { return false }
        guard let chunk = try await inbound.next() else {
            closedByServer = true
            return false
        }
        buffer.append(contentsOf: chunk.readableBytesView)
        return true
    }

    /// The next response (framed by Content-Length, or by the close), or nil if the server closed
    /// the connection without one. The answer to a HEAD request (`bodyless`) has no body whatever
    /// its Content-Length says.
    mutating func response(bodyless: Bool = false) async throws -> RawResponse? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            headEnd = buffer.firstRange(of: separator)?.upperBound
            if headEnd == nil, !(try await fill()) { return nil }
        }
        guard let headEnd else { return nil }
        let lines = String(decoding: buffer[..<(headEnd - 4)], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw TestFailure(description: "not an HTTP response: \(lines[0])")
        }
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = bodyless ? 0 : headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) }
        if let length {
            while buffer.count < headEnd + length {
                guard try await fill() else { throw TestFailure(description: "closed inside a response body") }
            }
            let body = Array(buffer[headEnd..<(headEnd + length)])
            buffer.removeFirst(headEnd + length)
            return RawResponse(status: status, headers: headers, body: body)
        }
        while try await fill() {}
        let body = Array(buffer[headEnd...])
        buffer.removeAll()
        return RawResponse(status: status, headers: headers, body: body)
    }

    /// Waits for the server to close the connection: true once it has, with nothing more sent.
    mutating func waitForClose() async throws -> Bool {
        while try await fill() {}
        return buffer.isEmpty
    }
}

/// `body`, or a failure naming `what` after `seconds`: a guard so a regression fails instead of hanging.
func within<T: Sendable>(_ seconds: TimeInterval, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withTimeLimit(seconds, orThrow: { TestFailure(description: "\(what) did not happen within \(seconds)s") }, body)
}
