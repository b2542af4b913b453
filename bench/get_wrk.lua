-- wrk script for bench/catalog_scale.sh: plain GETs of the URL given to wrk (its path and query),
-- and done() prints one line the shell script parses:
--   RESULT requests=N duration_us=N p50_us=N p99_us=N errors=N non2xx=N bytes=N
function done(summary, latency, requests_unused)
  local e = summary.errors
  io.write(string.format(
      "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non2xx=%d bytes=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      e.connect + e.read + e.write + e.timeout, e.status, summary.bytes))
end
