-- wrk script for bench/blocking_fanout.sh's interference phase: PUT /v1/catalog/register of one
-- node-level check whose Output changes on every request, so that each request is a real catalog
-- write (a Raft entry that moves the checks table's index, not the KV table's).
-- done() prints: RESULT requests=N duration_us=N p50_us=N p99_us=N errors=N non2xx=N
local counter = 0
function request()
  counter = counter + 1
  local body = '{"Node":"interference","Address":"10.9.9.9","Check":{"CheckID":"c","Name":"c",' ..
      '"Status":"passing","Output":"' .. counter .. '"}}'
  return wrk.format("PUT", "/v1/catalog/register", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests_unused)
  local e = summary.errors
  io.write(string.format(
      "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      e.connect + e.read + e.write + e.timeout, e.status))
end
