import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// Bounds on what one HTTP connection may hold of the server. Hummingbird closes idle connections
/// (`HTTP1Channel.Configuration.idleTimeout`) and caps open ones (`MaximumAvailableConnections`,
/// the rest wait in the listen backlog); `ConnectionGuardHandler` adds what it does not offer:
/// deadlines for reading a request's head and its body, and the close after an answer that ends
/// the conversation.
public struct HTTPLimits: Sendable, Equatable {
    /// A connection with no request in progress is closed after this long.
    public var idleTimeout: TimeInterval = 60
    /// A request's line and headers must have arrived this long after its first byte.
    public var headerTimeout: TimeInterval = 10
    /// A request's body must have arrived this long after its headers.
    public var bodyTimeout: TimeInterval = 30
    /// Connections open at once; more wait to be accepted.
    public var maxConnections = 1024

    public init() {}
}

/// Watches the HTTP parts of one connection (it sits between Hummingbird's HTTP/1 codec and its
/// request handling, where `HTTP1Channel.Configuration.additionalChannelHandlers` puts it):
///
/// - **Header and body deadlines.** The head must arrive within `headerTimeout` of the request's
///   first byte (seen by a `RequestStartObserver` this handler installs at the front of the
///   pipeline, before the bytes are parsed), and the body within `bodyTimeout` of the head. A
///   client that stalls is answered 408 and disconnected.
/// - **Closing after `Connection: close`.** Vigil answers some requests before reading their
///   bodies (413 for a body announced over the limit, 400 for broken framing) and says
///   `Connection: close`. After such an answer the handler half-closes the connection (the
///   client reads the whole answer, then the end) and discards whatever the client still sends,
///   until it stops or `bodyTimeout` passes. Closing at once would make the kernel reset the
///   connection over the unread bytes, and a client that writes its whole body before reading
///   (Python's urllib) would lose the answer or block writing into a full window.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum State {
        /// Between requests; Hummingbird's idle timeout applies.
        case waiting
        case readingHead
        case readingBody
        /// The request has been read; the handler's own timeouts apply to the answer.
        case answering
        /// An answer said `Connection: close`: the rest of the input is discarded.
        case draining
    }

    private let limits: HTTPLimits
    private let logger: Logger
    private var state = State.waiting
    private var deadline: Scheduled<Void>?
    private var answerStarted = false
    private var answerFinished = false
    private var closeAfterAnswer = false

    init(limits: HTTPLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        do {
            try context.pipeline.syncOperations.addHandler(RequestStartObserver(owner: self), position: .first)
        } catch {
            logger.error("could not watch the connection's request starts; closing it", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    /// Bytes have arrived, before the HTTP codec parses them.
    func bytesArrived(context: ChannelHandlerContext) {
        guard case .waiting = state else { return }
        state = .readingHead
        schedule(limits.headerTimeout, context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .draining = state { return }
        switch unwrapInboundIn(data) {
        case .head:
            state = .readingBody
            answerStarted = false
            answerFinished = false
            schedule(limits.bodyTimeout, context: context)
        case .body:
            break
        case .end:
            // Answered before its body was read (a refusal): the connection waits for the next.
            state = answerFinished ? .waiting : .answering
            cancelDeadline()
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Once the answer is out, broken framing in what follows is of no interest.
        if case .draining = state { return }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            answerStarted = true
            closeAfterAnswer = head.headerFields[.connection]?.lowercased() == "close"
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            context.writeAndFlush(data, promise: promise)
            answerFinished = true
            if closeAfterAnswer {
                drain(context: context)
            } else if case .answering = state {
                state = .waiting
            }
        }
    }

    /// Half-closes the connection and discards the rest of its input, for at most `bodyTimeout`.
    private func drain(context: ChannelHandlerContext) {
        state = .draining
        context.close(mode: .output, promise: nil)
        schedule(limits.bodyTimeout, context: context)
    }

    private func schedule(_ seconds: TimeInterval, context: ChannelHandlerContext) {
        cancelDeadline()
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(seconds * 1_000_000_000))) {
            let (handler, context) = loopBound.value
            handler.deadlinePassed(context: context)
        }
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }

    private func deadlinePassed(context: ChannelHandlerContext) {
        deadline = nil
        switch state {
        case .readingHead:
            // No request has reached Hummingbird, so nobody else will answer: 408, written under
            // the HTTP codec, then the close.
            logger.debug("closing a connection that did not send its request headers in time")
            let text = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            guard let first = try? context.pipeline.syncOperations.context(handlerType: RequestStartObserver.self) else {
                context.close(promise: nil)
                return
            }
            first.writeAndFlush(NIOAny(ByteBuffer(string: text)), promise: nil)
            drain(context: context)
        case .readingBody where !answerStarted:
            // The handler reading the body gets the error and answers 408 with `Connection: close`.
            logger.debug("a request's body did not arrive in time")
            context.fireErrorCaught(RequestBodyTimeout(seconds: limits.bodyTimeout))
            state = .answering
        default:
            context.close(promise: nil)
        }
    }
}

/// A request's body did not arrive within `VIGIL_HTTP_BODY_TIMEOUT`; answered 408.
struct RequestBodyTimeout: Error {
    let seconds: TimeInterval
}

@available(*, unavailable)
extension ConnectionGuardHandler: Sendable {}

/// The first handler of a connection's pipeline: tells its `ConnectionGuardHandler` when bytes
/// arrive, so the head's deadline can start at a request's first byte.
final class RequestStartObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let owner: ConnectionGuardHandler

    init(owner: ConnectionGuardHandler) {
        self.owner = owner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let ownerContext = try? context.pipeline.syncOperations.context(handler: owner) {
            owner.bytesArrived(context: ownerContext)
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension RequestStartObserver: Sendable {}
