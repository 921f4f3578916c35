import Foundation
import Hummingbird

/// Liveness, readiness and the self-test matrix.
struct HealthRoutes {
    let services: AppServices

    func register(on router: RouteTable) {
        router.get("/healthz") { _, _ in
            try json(.ok, LivenessBody(version: services.version, safeMode: services.config.providers == .sandbox))
        }
        router.get("/health") { request, _ in
            try await health(request)
        }
        router.get("/metrics") { _, _ in
            let text = await services.metrics.render(
                store: services.store, queues: services.queues, scheduler: services.scheduler,
                circuits: services.providers.circuits(services.clock.now()), version: services.version, now: services.clock.now())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/__selftest") { _, _ in
            let report = await SelfTest.run(
                config: services.config, store: services.store, providers: services.providers,
                clock: services.clock, localScheduler: services.scheduler)
            return try json(report.criticalFailure ? .serviceUnavailable : .ok, report.body)
        }
    }

    /// Readiness: the datastore answers and the task workers run. `?check=db` adds the
    /// datastore round-trip time.
    func health(_ request: Request) async throws -> Response {
        let started = ContinuousClock.now
        let datastore = (try? await services.store.ping()) != nil
        var body = ReadinessBody(status: "ok", version: services.version, datastore: datastore ? "ok" : "fail",
                                 scheduler: services.scheduler.isRunning ? "ok" : "fail")
        if request.uri.queryParameters.get("check") == "db" {
            body.datastoreLatencyMs = Double((ContinuousClock.now - started).milliseconds)
        }
        let healthy = datastore && services.scheduler.isRunning
        body.status = healthy ? "ok" : "fail"
        return try json(healthy ? .ok : .serviceUnavailable, body)
    }
}
