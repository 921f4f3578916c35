import ServiceLifecycle

/// Keeps the store open while the service group runs and closes it last on shutdown
/// (services stop in reverse order, so list it first).
public struct StoreService: Service {
    let store: any Store

    public init(store: any Store) { self.store = store }

    public func run() async throws {
        try? await gracefulShutdown()
        try await store.close()
    }
}
