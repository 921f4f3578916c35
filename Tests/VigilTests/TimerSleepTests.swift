import Foundation
import Testing
import VigilCore

/// The real-time sleep behind `SystemClock` and request timeouts: it ends on time, and a
/// cancelled one ends at once and leaves no timer behind (unlike `Task.sleep`, whose cancelled
/// timers live until their deadline).
@Suite("Real-time sleep", .serialized)
struct TimerSleepTests {
    @Test("a sleep lasts at least its time and then ends")
    func endsOnTime() async throws {
        let started = ContinuousClock.now
        try await TimerSleep.sleep(for: 0.05)
        #expect(ContinuousClock.now - started >= .milliseconds(50))
    }

    @Test("hour-long sleeps, cancelled, end at once with CancellationError and leave no timer armed",
          .timeLimit(.minutes(1)))
    func cancelledSleepsEndAtOnce() async throws {
        let armed = TimerSleep.ArmedTimers()
        let outcomes = await TimerSleep.$tracker.withValue(armed) {
          await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<1_000 {
                group.addTask {
                    do {
                        try await TimerSleep.sleep(for: 3600)
                        return false
                    } catch {
                        return error is CancellationError
                    }
                }
            }
            // Every sleep armed its timer before any is cancelled (yielding, not sleeping).
            while armed.value < 1_000 { await Task.yield() }
            group.cancelAll()
            var results: [Bool] = []
            for await outcome in group { results.append(outcome) }
            return results
          }
        }
        #expect(outcomes.count == 1_000)
        #expect(outcomes.allSatisfy { $0 })
        #expect(armed.value == 0)
    }

    @Test("a task already cancelled does not sleep at all")
    func alreadyCancelled() async throws {
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await TimerSleep.sleep(for: 3600)
        }
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test("withTimeLimit answers with the body's value and leaves no timer armed")
    func timeLimitLeavesNoTimer() async throws {
        let armed = TimerSleep.ArmedTimers()
        let value = try await TimerSleep.$tracker.withValue(armed) {
            try await withTimeLimit(3600, orThrow: { CancellationError() }) { 42 }
        }
        #expect(value == 42)
        #expect(armed.value == 0)
    }
}
