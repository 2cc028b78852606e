-- common.lua - what every load script shares: the request headers, a
-- per-thread count of answers that were not 2xx, and a done() that prints
-- one machine-readable RESULT line for tests/load/report.py.
--
-- Environment: TALLY_KEY (API key), TALLY_NS (namespace), TALLY_KIND (the
-- name of this request kind in the report).
local common = {}

common.headers = {
    ["Authorization"] = "Bearer " .. (os.getenv("TALLY_KEY") or ""),
    ["X-Namespace"] = os.getenv("TALLY_NS") or "",
    ["Content-Type"] = "application/json",
}

local threads = {}

function common.setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end

-- Counted in each thread's own Lua state; done() sums them.
non2xx = 0
shown = 0

-- Returns true for a 2xx answer; counts and shows (a few) others.
function common.check(status, body)
    if status >= 200 and status < 300 then
        return true
    end
    non2xx = non2xx + 1
    if shown < 3 then
        shown = shown + 1
        io.stderr:write(string.format("%s: status %d: %s\n",
            os.getenv("TALLY_KIND") or "?", status,
            string.sub(body or "", 1, 300)))
    end
    return false
end

function common.done(summary, latency, requests)
    local bad = 0
    for _, t in ipairs(threads) do
        bad = bad + (t:get("non2xx") or 0)
    end
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        "RESULT kind=%s requests=%d non2xx=%d connect=%d read=%d write=%d " ..
        "timeout=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f " ..
        "rps=%.2f seconds=%.1f\n",
        os.getenv("TALLY_KIND") or "?", summary.requests, bad, e.connect,
        e.read, e.write, e.timeout, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000,
        latency.mean / 1000, summary.requests / secs, secs))
end

return common
