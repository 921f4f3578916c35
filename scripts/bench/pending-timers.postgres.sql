-- Adds :n future timers (deadline tasks due 30 to 31 days from now) to Vigil's PostgreSQL schema
-- in one statement, for the scale benchmark. Run with: psql -v n=N -f FILE
INSERT INTO tasks (name, queue, kind, order_id, payload, state, attempts, scheduled_at, run_at, created_at, updated_at)
SELECT 'pending-' || i, 'timers', 'deadline', 'pending-' || i, '{}', 'scheduled', 0,
       now() + interval '30 days' + (i % 86400) * interval '1 second',
       now() + interval '30 days' + (i % 86400) * interval '1 second',
       now(), now()
FROM generate_series(0, :n - 1) AS i;
-- Vacuumed and analysed as autovacuum would have left a table that grew over weeks; otherwise
-- autovacuum works through the 10 million new rows during the measurement that follows.
VACUUM (ANALYZE) tasks;
