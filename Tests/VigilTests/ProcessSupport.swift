import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// The `vigil` executable built beside this test bundle.
func vigilBinary() throws -> URL {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil"),
        Bundle.main.bundleURL.appendingPathComponent("vigil"),
        Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("vigil"),
    ]
    for url in candidates where FileManager.default.isExecutableFile(atPath: url.path) { return url }
    throw TestFailure(description: "vigil binary not found next to the tests; build with `swift build --build-tests`")
}

/// A loopback port nobody is listening on right now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure(description: "socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestFailure(description: "bind() failed") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Runs `vigil` with arguments and environment; returns exit status and output.
func runVigil(_ arguments: [String], env: [String: String], cwd: URL? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = try vigilBinary()
    process.arguments = arguments
    process.environment = ["PATH": "/usr/bin:/bin", "VIGIL_LOG_LEVEL": "error"].merging(env) { _, new in new }
    if let cwd { process.currentDirectoryURL = cwd }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

/// A `vigil serve` child process on a free loopback port.
final class ServeProcess {
    let process = Process()
    let port: Int
    let log: URL

    init(env: [String: String], directory: URL) throws {
        port = try freePort()
        log = directory.appendingPathComponent("serve-\(port).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = try vigilBinary()
        process.arguments = ["serve"]
        process.environment = ["PATH": "/usr/bin:/bin", "VIGIL_PORT": "\(port)"].merging(env) { _, new in new }
        process.currentDirectoryURL = directory
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Waits (bounded) for `/healthz` to answer 200: the server is up.
    func waitUntilReady(timeout: TimeInterval = 30) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !process.isRunning {
                throw TestFailure(description: "vigil serve exited early: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            }
            if let r = try? await HTTPClient.shared.get(url: baseURL + "/healthz").get(), r.status == .ok { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure(description: "vigil serve did not become ready in \(timeout)s")
    }

    func kill(_ signal: Int32) {
        Glibc.kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

func httpJSON(_ method: HTTPMethod, _ url: String, body: String? = nil, headers: [(String, String)] = []) async throws -> (status: UInt, json: [String: Any]) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let buffer = try await response.body.collect(upTo: 10 << 20)
    let json = (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] ?? [:]
    return (response.status.code, json)
}

/// A request's status and raw body text.
func httpText(_ method: HTTPMethod, _ url: String, body: String? = nil, headers: [(String, String)] = []) async throws -> (status: UInt, text: String) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(string: body)) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let buffer = try await response.body.collect(upTo: 10 << 20)
    return (response.status.code, String(buffer: buffer))
}

/// A new empty folder under the temporary directory.
func temporaryFolder(_ prefix: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}
