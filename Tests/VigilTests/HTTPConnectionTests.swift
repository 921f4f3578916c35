import Foundation
import Testing
import VigilCore
import VigilServer

/// The HTTP server against hostile clients, over real sockets: malformed framing, bodies over the
/// limit, silence, and too many connections.
@Suite("HTTP connections")
struct HTTPConnectionTests {
    static let webhook = "/api/v1/post-purchase/webhook"

    @Test("a malformed chunked body is answered 400 with a problem body, never 500, and the connection is closed")
    func malformedChunkedBody() async throws {
        try await withListeningServer { port, _ in
            try await within(10, "the answer to a malformed chunked body") {
                try await RawConnection.with(port: port) { connection in
                    try await connection.send(
                        "POST \(Self.webhook) HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\n"
                            + "Transfer-Encoding: chunked\r\n\r\nZZZ\r\n{\"a\":1}\r\n0\r\n\r\n")
                    let response = try #require(try await connection.response())
                    #expect(response.status == 400)
                    #expect(response.header("Content-Type") == "application/problem+json")
                    #expect(response.text.contains("urn:vigil:problem:bad-request"))
                    #expect(try await connection.waitForClose())
                }
            }
        }
    }

    @Test("a malformed request line or header is answered 400 and the connection closed", arguments: [
        "GARBAGE\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: vigil\r\nBad Header Name: x\r\n\r\n",
        "POST /api/v1/veriff/webhook HTTP/1.1\r\nHost: vigil\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    ])
    func malformedHead(_ request: String) async throws {
        try await withListeningServer { port, _ in
            try await within(10, "the answer to a malformed head") {
                try await RawConnection.with(port: port) { connection in
                    try await connection.send(request)
                    let response = try #require(try await connection.response())
                    #expect(response.status == 400)
                    #expect(try await connection.waitForClose())
                }
            }
        }
    }

    @Test("a Content-Length over the limit is answered 413 at once, before any of the body, and the connection closed")
    func announcedBodyTooLarge() async throws {
        try await withListeningServer { port, _ in
            try await within(10, "the 413 to an announced body over the limit") {
                try await RawConnection.with(port: port) { connection in
                    try await connection.send(
                        "POST \(Self.webhook) HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\n"
                            + "Content-Length: \(10 << 20)\r\n\r\n{\"event\":")
                    let response = try #require(try await connection.response())
                    #expect(response.status == 413)
                    #expect(response.header("Connection") == "close")
                    #expect(response.text.contains("urn:vigil:problem:content-too-large"))
                    #expect(try await connection.waitForClose())
                }
            }
        }
    }

    @Test("a client that writes its whole over-limit body before reading gets its 413 and a closed connection",
          arguments: [false, true])
    func wholeBodyBeforeReading(chunked: Bool) async throws {
        let body = [UInt8](repeating: UInt8(ascii: "a"), count: 3 << 20)
        try await withListeningServer { port, _ in
            try await within(20, "the 413 after a whole over-limit body") {
                try await RawConnection.with(port: port) { connection in
                    let framing = chunked ? "Transfer-Encoding: chunked" : "Content-Length: \(body.count)"
                    try await connection.send("POST \(Self.webhook) HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\n\(framing)\r\n\r\n")
                    if chunked {
                        for start in stride(from: 0, to: body.count, by: 64 << 10) {
                            let piece = body[start..<min(start + (64 << 10), body.count)]
                            try await connection.send(String(piece.count, radix: 16) + "\r\n")
                            try await connection.send(Array(piece))
                            try await connection.send("\r\n")
                        }
                        try await connection.send("0\r\n\r\n")
                    } else {
                        try await connection.send(body)
                    }
                    let response = try #require(try await connection.response())
                    #expect(response.status == 413)
                    #expect(try await connection.waitForClose())
                }
            }
        }
    }

    static func limits(idle: TimeInterval = 60, header: TimeInterval = 60, body: TimeInterval = 60, connections: Int = 64) -> VigilConfig {
        var config = VigilConfig()
        config.http.idleTimeout = idle
        config.http.headerTimeout = header
        config.http.bodyTimeout = body
        config.http.maxConnections = connections
        config.webhookTimeout = 60
        return config
    }

    @Test("a silent connection, and a kept-alive one after its answer, are closed at the idle timeout")
    func idleTimeout() async throws {
        // Long enough that a loaded machine still sends the second request before it passes.
        try await withListeningServer(Self.limits(idle: 2)) { port, _ in
            try await within(10, "closing a silent connection") {
                try await RawConnection.with(port: port) { connection in
                    let closed = try await connection.waitForClose()
                    #expect(closed)
                }
                try await RawConnection.with(port: port) { connection in
                    try await connection.send("GET /healthz HTTP/1.1\r\nHost: vigil\r\n\r\n")
                    #expect(try await connection.response()?.status == 200)
                    #expect(try await connection.waitForClose())
                }
            }
        }
    }

    @Test("headers trickling in past the header timeout get 408 and the connection closed")
    func headerTimeout() async throws {
        try await withListeningServer(Self.limits(header: 0.3)) { port, _ in
            try await within(10, "the 408 to slow headers") {
                try await RawConnection.with(port: port) { connection in
                    try await connection.send("GET /healthz HTTP/1.1\r\nHost: vig")
                    let response = try #require(try await connection.response())
                    #expect(response.status == 408)
                    #expect(try await connection.waitForClose())
                }
            }
        }
    }

    @Test("a body that stops arriving gets 408 at the body timeout, not a 503 at the webhook's, and the connection closed")
    func bodyTimeout() async throws {
        try await withListeningServer(Self.limits(body: 0.3)) { port, h in
            try await within(10, "the 408 to a stalled body") {
                try await RawConnection.with(port: port) { connection in
                    try await connection.send(
                        "POST \(Self.webhook) HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\n"
                            + "Content-Length: 200\r\n\r\n{\"event\":\"order.created\",")
                    let response = try #require(try await connection.response())
                    #expect(response.status == 408)
                    #expect(response.text.contains("urn:vigil:problem:request-timeout"))
                    #expect(try await connection.waitForClose())
                }
            }
            #expect(try await h.store.tasks(queue: nil, state: nil, limit: 10).isEmpty)
        }
    }

    @Test("connections over the cap wait to be accepted until one closes")
    func connectionCap() async throws {
        // Long enough that a loaded machine still sends the first request before it passes.
        let idle: TimeInterval = 3
        try await withListeningServer(Self.limits(idle: idle, connections: 1)) { port, _ in
            try await within(20, "the capped connections' answers") {
                let (ready, readySink) = AsyncStream<Void>.makeStream()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // The one connection allowed: answered, then silent until the idle timeout.
                        try await RawConnection.with(port: port) { first in
                            try await first.send("GET /healthz HTTP/1.1\r\nHost: vigil\r\n\r\n")
                            #expect(try await first.response()?.status == 200)
                            readySink.yield()
                            #expect(try await first.waitForClose())
                        }
                    }
                    for await _ in ready { break }
                    let start = ContinuousClock.now
                    try await RawConnection.with(port: port) { second in
                        try await second.send("GET /healthz HTTP/1.1\r\nHost: vigil\r\n\r\n")
                        #expect(try await second.response()?.status == 200)
                    }
                    // Accepted only once the first was closed, about `idle` after its answer.
                    #expect(ContinuousClock.now - start > .milliseconds(Int(idle * 500)))
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test("the HTTP limits are read from the environment and refused when nonsensical")
    func limitsConfiguration() throws {
        let config = try VigilConfig.load(environment: [
            "VIGIL_HTTP_IDLE_TIMEOUT": "5s", "VIGIL_HTTP_HEADER_TIMEOUT": "2s", "VIGIL_HTTP_BODY_TIMEOUT": "1m",
            "VIGIL_HTTP_MAX_CONNECTIONS": "10",
        ])
        #expect(config.http.idleTimeout == 5 && config.http.headerTimeout == 2 && config.http.bodyTimeout == 60)
        #expect(config.http.maxConnections == 10)
        #expect(throws: ConfigError.self) { try VigilConfig.load(environment: ["VIGIL_HTTP_MAX_CONNECTIONS": "0"]) }
        #expect(throws: ConfigError.self) { try VigilConfig.load(environment: ["VIGIL_HTTP_IDLE_TIMEOUT": "0s"]) }
    }
}
