import Foundation
import Testing
import VigilCore
import VigilFlow
@testable import VigilProviders
import Synchronization
import VigilQueue
@testable import VigilServer
import VigilStore

/// Every provider call is recorded as an attempt before it is made, so a call cut off by a crash
/// shows as "outcome unknown, may have been sent", and a repeat after it is on the timeline.
@Suite("Provider call attempts")
struct ProviderAttemptTests {
    @Test("each call's attempt is committed before the call and ended with its answer", arguments: Backend.allCases)
    func answered(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("A1"), payload: "{}")
            try await h.drain()
            let attempts = try await store.attempts(orderId: "A1")
            let tasks = try await store.tasks(orderId: "A1")
            #expect(Set(attempts.map(\.kind)).isSuperset(of: ["open_session", "send_email"]))
            #expect(attempts.count == (try await h.outbox("A1")).count, "one attempt per call made")
            for attempt in attempts {
                #expect(attempt.outcome == .answered && attempt.endedAt != nil && attempt.attempt == 1)
                #expect(attempt.status(task: tasks.first { $0.id == attempt.taskId }) == .answered)
            }
        }
    }

    @Test("a call cut off by a crash: in flight while its worker holds the task, then 'outcome unknown, may have been sent'; the repeat is on the timeline",
          arguments: Backend.allCases)
    func cutOff(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("C1"), payload: "{}")
            // A worker claims the order's session task and makes the call; its process dies
            // before the outcome commits (the outcome is dropped, the task stays running).
            let handler = FlowTaskHandler(store: store, providers: h.providers, clock: h.clock, owner: "doomed")
            let claims = try await store.taskStore.claimTasks(queue: FlowQueues.verification, limit: 1, owner: "doomed",
                                                              now: h.clock.now(), leaseDuration: 8)
            let claim = try #require(claims.first)
            _ = try await handler.perform(claim)

            var detail = try await OrderRoutes.order("C1", in: store)
            #expect(detail.attempts.map(\.status) == [.inFlight] && detail.attempts.first?.owner == "doomed")

            // The lease lapses; another worker takes the task and calls again.
            try await h.advance(by: 9)
            detail = try await OrderRoutes.order("C1", in: store)
            let opens = detail.attempts.filter { $0.kind == "open_session" }
            #expect(opens.map(\.status) == [.unknown, .answered], "\(detail.attempts)")
            #expect(opens.map(\.attempt) == [1, 2])
            let repeated = try #require(detail.timeline.first { $0.type == "provider.call_repeated" })
            #expect("\(repeated.data)".contains("open_session"))
            #expect(try await store.session(orderId: "C1")?.verificationId != nil)

            let page = OrderPageView(
                session: try #require(try await store.session(orderId: "C1")), tasks: try await store.tasks(orderId: "C1"),
                events: try await store.eventLog(orderId: "C1"), outbox: try await store.outbox(orderId: "C1"),
                attempts: try await store.attempts(orderId: "C1"), webhooks: [], now: h.clock.now(), canAct: true, csrf: "x",
                customerPage: nil)
            #expect(page.inFlight.count == 1 && page.inFlight[0].contains("outcome unknown, may have been sent"))
            #expect(page.attempts.map(\.status).contains("outcome unknown, may have been sent"))
        }
    }

    @Test("a failed call ends its attempt with the error; retention prunes old attempts and empties failures' detail; erasure drops their error text",
          arguments: Backend.allCases)
    func failedAndPruned(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let sandbox = SandboxProviders()
            let failing = Providers(identity: FailingIdentity(), email: sandbox.providers.email, payments: sandbox.providers.payments,
                                    shop: sandbox.providers.shop)
            let h = Harness(store: store, providers: failing)
            _ = try await h.flow.receiveOrder(h.order("F1"), payload: "{}")
            _ = try await h.flow.receiveOrder(h.order("F2"), payload: "{}")
            try await h.drain()
            let first = try #require(try await store.attempts(orderId: "F1").first)
            #expect(first.outcome == .failed && first.error?.contains("refused [email]") == true, "\(first)")
            #expect(first.error?.contains("F1@example.com") == false, "a provider's error text is kept without the address it quotes")
            _ = try await h.flow.receiveDecision(h.decision("F1", .declined))
            try await h.drain()
            #expect(try await store.eraseOrder("F1", at: h.clock.now()) == .erased)
            #expect(try await store.attempts(orderId: "F1").allSatisfy { $0.error == nil })
            #expect(try await store.eventLog(orderId: "F1").filter { $0.type == "task.failed" }.allSatisfy { $0.data == "{}" })

            h.clock.advance(by: 31 * 86_400)
            let report = try await DataRetention(store: store, settings: h.flow.settings).run(now: h.clock.now())
            #expect(report.attemptsPruned >= 1 && report.eventsRedacted >= 1)
            let live = Set(try await store.tasks(orderId: "F1").filter { [.scheduled, .retrying, .running].contains($0.state) }.map(\.id)
                + (try await store.tasks(orderId: "F2")).filter { [.scheduled, .retrying, .running].contains($0.state) }.map(\.id))
            let kept = try await store.attempts(orderId: "F1") + (try await store.attempts(orderId: "F2"))
            #expect(!kept.isEmpty && kept.allSatisfy { live.contains($0.taskId) },
                    "only the attempts of tasks still to run are kept: their next run names a repeat")
            let failures = try await store.eventLog(orderId: "F2").filter { $0.type == "task.failed" }
            #expect(!failures.isEmpty && failures.allSatisfy { $0.data == "{}" }, "the provider's error text is gone, the row stays")
        }
    }

    @Test("an answer that cannot be recorded (the database gone after the call) leaves the attempt open: its repeat is named",
          arguments: Backend.allCases)
    func answerNotRecorded(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("D1"), payload: "{}")
            let handler = FlowTaskHandler(store: store, providers: h.providers, clock: h.clock, owner: "w1")
            let claim = try #require(try await store.taskStore.claimTasks(
                queue: FlowQueues.verification, limit: 1, owner: "w1", now: h.clock.now(), leaseDuration: 8).first)
            _ = try await handler.perform(claim)
            // Completing failed; the worker records the task's failure instead (as it does when the
            // commit of the answer fails and the database is back for the failure).
            if let failure = handler.failed(claim, error: "PostgreSQL gave no connection within 3s", dead: false) {
                try await store.write { tx in try await failure(tx) }
            }
            try await h.advance(by: 9)
            let opens = try await store.attempts(orderId: "D1").filter { $0.kind == "open_session" }
            #expect(opens.map(\.outcome) == [nil, .answered], "\(opens)")
            #expect(try await store.eventLog(orderId: "D1").contains { $0.type == "provider.call_repeated" })
        }
    }

    @Test("a call cut off by a shutdown stays open; the task handed back runs under the same attempt number and names it",
          arguments: Backend.allCases)
    func cutOffByShutdown(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let identity = ScriptedIdentity()
            let sandbox = SandboxProviders().providers
            let h = Harness(store: store, providers: Providers(identity: identity, email: sandbox.email, payments: sandbox.payments,
                                                               shop: sandbox.shop))
            _ = try await h.flow.receiveOrder(h.order("Q1"), payload: "{}")
            let handler = FlowTaskHandler(store: store, providers: h.providers, clock: h.clock, owner: "w1")
            let claim = try #require(try await store.taskStore.claimTasks(
                queue: FlowQueues.verification, limit: 1, owner: "w1", now: h.clock.now(), leaseDuration: 8).first)
            identity.script(["cancel"])
            await #expect(throws: CancellationError.self) { _ = try await handler.perform(claim) }
            // What the worker does with a task cut off by its shutdown.
            try await store.taskStore.releaseTask(claim, runAt: h.clock.now(), note: "handed back at shutdown", now: h.clock.now())
            try await h.drain()
            let opens = try await store.attempts(orderId: "Q1").filter { $0.kind == "open_session" }
            #expect(opens.map(\.outcome) == [nil, .answered] && opens.map(\.attempt) == [1, 1], "\(opens)")
            #expect(try await store.eventLog(orderId: "Q1").contains { $0.type == "provider.call_repeated" })
        }
    }

    @Test("a repeat is named when it is made, even when it fails; a call not made (circuit open) ends 'not_sent' and its re-run keeps a row of its own",
          arguments: Backend.allCases)
    func repeatFailsAndCircuitOpen(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let identity = ScriptedIdentity()
            let sandbox = SandboxProviders().providers
            let h = Harness(store: store, providers: Providers(identity: identity, email: sandbox.email, payments: sandbox.payments,
                                                               shop: sandbox.shop))
            _ = try await h.flow.receiveOrder(h.order("R1"), payload: "{}")
            let handler = FlowTaskHandler(store: store, providers: h.providers, clock: h.clock, owner: "w1")
            let claim = try #require(try await store.taskStore.claimTasks(
                queue: FlowQueues.verification, limit: 1, owner: "w1", now: h.clock.now(), leaseDuration: 8).first)
            _ = try await handler.perform(claim)  // its process dies before recording
            identity.script(["fail"])
            try await h.advance(by: 9)
            var opens = try await store.attempts(orderId: "R1").filter { $0.kind == "open_session" }
            #expect(opens.map(\.outcome) == [nil, .failed], "\(opens)")
            #expect(try await store.eventLog(orderId: "R1").filter { $0.type == "provider.call_repeated" }.count == 1,
                    "named when the repeat was made, though it failed")

            identity.script(["circuit"])
            try await h.advance(by: 120)
            try await h.advance(by: 120)
            opens = try await store.attempts(orderId: "R1").filter { $0.kind == "open_session" }
            #expect(opens.map(\.outcome) == [nil, .failed, .notSent, .answered], "\(opens)")
            #expect(opens.count == 4 && opens[2].attempt == opens[3].attempt,
                    "a postponed call runs again under the same attempt number, in a row of its own")
            #expect(try await store.session(orderId: "R1")?.verificationId != nil)
        }
    }
}

/// An ID provider that refuses every session, quoting the address (as some providers' errors do).
struct FailingIdentity: IdentityVerifier {
    func createSession(_ request: VerificationRequest, call: ProviderCall) async throws -> ProviderReply<VerificationSessionRef> {
        throw ProviderError(provider: .veriff, operation: .createSession, kind: .transient, status: 503,
                            message: "refused \(request.customerEmail)")
    }

    func check() async -> ProviderCheck { .safeMode }
}

/// An ID provider that follows a script, one step per call: "fail" (a 503), "echo" (a 503 quoting
/// the customer's address), "cancel" (cut off by a shutdown), "circuit" (the call not made), then answers as the sandbox does.
final class ScriptedIdentity: IdentityVerifier, Sendable {
    private let steps = Mutex<[String]>([])
    func script(_ next: [String]) { steps.withLock { $0 = next } }

    func createSession(_ request: VerificationRequest, call: ProviderCall) async throws -> ProviderReply<VerificationSessionRef> {
        let step = steps.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        switch step {
        case "fail": throw ProviderError(provider: .veriff, operation: .createSession, kind: .transient, status: 503, message: "busy")
        case "echo":
            throw ProviderError(provider: .veriff, operation: .createSession, kind: .transient, status: 503,
                                message: "cannot verify \(request.customerEmail)")
        case "cancel": throw CancellationError()
        case "circuit": throw ProviderUnavailable(provider: .veriff, retryNotBefore: Date(timeIntervalSince1970: 0))
        default: return try await SandboxProviders().providers.identity.createSession(request, call: call)
        }
    }

    func check() async -> ProviderCheck { .safeMode }
}
