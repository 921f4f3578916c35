import Foundation
import Hummingbird

/// Liveness, readiness and the self-test matrix.
struct HealthRoutes {
    let services: AppServices

    func register(on router: RouteTable) {
        router.get("/healthz") { _, _ in
            json(.ok, ["status": "ok", "version": services.version, "safeMode": services.config.providers == .sandbox])
        }
        router.get("/health") { request, _ in
            try await health(request)
        }
        router.get("/metrics") { _, context in
            let text = try await datastore(context.logger) {
                try await services.metrics.render(store: services.store, queues: services.queues, now: services.clock.now())
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/__selftest") { _, _ in
            let report = await SelfTest.run(
                config: services.config, store: services.store, providers: services.providers,
                clock: services.clock, localScheduler: services.scheduler)
            return json(report.criticalFailure ? .serviceUnavailable : .ok, report.json)
        }
    }

    /// Readiness: the datastore answers and the task workers run. `?check=db` adds the
    /// datastore round-trip time.
    func health(_ request: Request) async throws -> Response {
        var body: [String: Any] = ["version": services.version]
        var healthy = true
        let started = ContinuousClock.now
        do {
            try await services.store.ping()
            body["datastore"] = "ok"
        } catch {
            body["datastore"] = "fail"
            healthy = false
        }
        if request.uri.queryParameters.get("check") == "db" {
            body["datastoreLatencyMs"] = Double((ContinuousClock.now - started).milliseconds)
        }
        let running = services.scheduler.isRunning
        body["scheduler"] = running ? "ok" : "fail"
        healthy = healthy && running
        body["status"] = healthy ? "ok" : "fail"
        return json(healthy ? .ok : .serviceUnavailable, body)
    }
}
