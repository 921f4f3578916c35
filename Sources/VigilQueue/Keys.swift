import VigilCore

enum VigilCoreKeys {
    static func forTask(named name: String) -> String { IdempotencyKey.forTask(named: name) }
}
