-- pgbench custom script: the order transaction Vigil commits per order webhook (webhook record,
-- session, two event-log rows, three tasks, one NOTIFY), with a unique order id per transaction.
-- Used by scripts/bench.sh as PostgreSQL's own commit rate for the same work, with
-- -M simple (each statement parsed and planned) and -M prepared (as Vigil's own statements run).
-- In the extended protocols pgbench reads ":name" even inside a quoted literal as a variable and
-- binds variables as untyped parameters, hence no colons in literals and the CASTs.
\set n random(1, 2000000000)
BEGIN;
INSERT INTO webhook_events (provider, event_id, kind, order_id, payload, received_at)
  VALUES ('lightspeed', 'order.created.pgb-' || CAST(:client_id AS text) || '-' || CAST(:n AS text) || '-' || txid_current(), 'order', 'pgb-' || txid_current(),
          '{"event":"order.created","orderTotal":25.5}', now())
  ON CONFLICT (provider, event_id) DO NOTHING;
INSERT INTO sessions (order_id, state, refund_status, customer_email, order_total, currency, payment_id, deadline, reminder_at, created_at, updated_at)
  VALUES ('pgb-' || txid_current(), 'pending', 'none', 'c@example.com', 25.5, 'USD', 'pi_1', now() + interval '72 hours', now() + interval '24 hours', now(), now());
INSERT INTO events (order_id, type, at, data) VALUES ('pgb-' || txid_current(), 'order.received', now(), '{"orderTotal":25.5}');
INSERT INTO events (order_id, type, at, data) VALUES ('pgb-' || txid_current(), 'session.created', now(), '{"deadline":"x"}');
INSERT INTO tasks (name, queue, kind, order_id, payload, state, scheduled_at, run_at, created_at, updated_at)
  VALUES ('pgb.' || txid_current() || '.open_session', 'pgbench', 'open_session', 'pgb-' || txid_current(), '{}', 'scheduled', now(), now(), now(), now()),
         ('pgb.' || txid_current() || '.reminder', 'pgbench', 'reminder', 'pgb-' || txid_current(), '{}', 'scheduled', now() + interval '24 hours', now() + interval '24 hours', now(), now()),
         ('pgb.' || txid_current() || '.deadline', 'pgbench', 'deadline', 'pgb-' || txid_current(), '{}', 'scheduled', now() + interval '72 hours', now() + interval '72 hours', now(), now())
  ON CONFLICT (name) DO NOTHING;
SELECT pg_notify('vigil_bench', 'pgbench');
COMMIT;
