-- wrk script: signed, unique order webhooks to POST /api/v1/post-purchase/webhook.
-- The webhooks are signed beforehand (`vigil-bench sign-orders`, one "signature<TAB>body" line
-- each), so the generator spends its time sending, not signing. Each wrk thread sends every
-- THREADS-th line, starting at its own index, so no order is sent twice.
--   wrk -t THREADS -c CONNECTIONS -d DURATION -s ingest.lua URL -- FILE THREADS CONNECTIONS
local threads = {}

function setup(thread)
    thread:set("index", #threads)
    table.insert(threads, thread)
end

function init(args)
    local file, count = args[1], tonumber(args[2])
    connections = tonumber(args[3])
    queue = {}
    local line_number = 0
    for line in io.lines(file) do
        if line_number % count == index then
            local signature, body = line:match("^([^\t]+)\t(.*)$")
            queue[#queue + 1] = wrk.format("POST", "/api/v1/post-purchase/webhook",
                { ["Content-Type"] = "application/json", ["X-Signature"] = signature }, body)
        end
        line_number = line_number + 1
    end
    sent = 0
    exhausted = 0
end

function request()
    sent = sent + 1
    if sent >= #queue then
        -- Out of unique orders: stop this thread rather than send one twice.
        exhausted = 1
        wrk.thread:stop()
        return queue[#queue]
    end
    return queue[sent]
end

function done(summary, latency, requests)
    local failed = summary.errors.status + summary.errors.connect + summary.errors.read
        + summary.errors.write + summary.errors.timeout
    local seconds = summary.duration / 1e6
    local accepted = summary.requests - failed
    io.write(string.format("ingest (wrk): %d accepted (202), %d failed, in %.2f s at %d connections: %.0f webhooks/s committed\n",
        accepted, failed, seconds, #threads > 0 and threads[1]:get("connections") or 0, accepted / seconds))
    io.write(string.format("latency: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
        latency.max / 1000))
    for _, thread in ipairs(threads) do
        if thread:get("exhausted") == 1 then
            io.write("warning: a wrk thread ran out of signed orders; sign more with --count\n")
            break
        end
    end
end
