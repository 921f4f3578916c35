-- Adds :n future timers (deadline tasks due 30 to 31 days from now) to Vigil's SQLite schema in
-- one statement, for the scale benchmark. Run with: sqlite3 DB ".parameter set :n N" ".read FILE"
PRAGMA cache_size = -1000000;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :n - 1)
INSERT INTO tasks (name, queue, kind, order_id, payload, state, attempts, scheduled_at, run_at, created_at, updated_at)
SELECT 'pending-' || i, 'timers', 'deadline', 'pending-' || i, '{}', 'scheduled', 0,
       CAST(unixepoch('now', '+30 days') AS INTEGER) * 1000 + (i % 86400) * 1000,
       CAST(unixepoch('now', '+30 days') AS INTEGER) * 1000 + (i % 86400) * 1000,
       CAST(unixepoch('now') AS INTEGER) * 1000, CAST(unixepoch('now') AS INTEGER) * 1000
FROM n;
