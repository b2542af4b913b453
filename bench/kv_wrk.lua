-- wrk script for bench/kv_vs_etcd.sh: one KV workload, two HTTP dialects.
--
--   KV_TARGET=praetor|etcd   KV_OP=put|get   (environment variables)
--
-- Keys are bench/k0000 .. bench/k0999 (KV_KEYS), values 256 bytes (KV_VALUE_BYTES). Each
-- connection walks the keys round-robin from its own starting point.
--   praetor put: PUT  /v1/kv/<key>   body = the raw value (acknowledged after a majority fsync)
--   praetor get: GET  /v1/kv/<key>   default consistency (linearizable, ReadIndex)
--   etcd put:    POST /v3/kv/put     {"key": b64, "value": b64} (acknowledged after a majority fsync)
--   etcd get:    POST /v3/kv/range   {"key": b64}              (linearizable by default)
-- done() prints one line the shell script parses:
--   RESULT requests=N duration_us=N p50_us=N p99_us=N errors=N non2xx=N

local target = os.getenv("KV_TARGET") or "praetor"
local op = os.getenv("KV_OP") or "put"
local key_count = tonumber(os.getenv("KV_KEYS") or "1000")
local value_bytes = tonumber(os.getenv("KV_VALUE_BYTES") or "256")

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1) ..
        (b and b64chars:sub(c3 + 1, c3 + 1) or "=") .. (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

local function key_name(i) return string.format("bench/k%04d", i) end

local function value_of(i)
  local prefix = string.format("value-%04d-", i)
  return prefix .. string.rep("x", value_bytes - #prefix)
end

-- Every request is built once, up front; request() only picks the next one.
local requests = {}
local next_request = 1
local threads_created = 0

function setup(thread)
  thread:set("thread_index", threads_created)
  threads_created = threads_created + 1
end

function init(args)
  for i = 0, key_count - 1 do
    local key = key_name(i)
    local req
    if target == "praetor" and op == "put" then
      req = wrk.format("PUT", "/v1/kv/" .. key, nil, value_of(i))
    elseif target == "praetor" and op == "get" then
      req = wrk.format("GET", "/v1/kv/" .. key, nil, nil)
    elseif target == "etcd" and op == "put" then
      local body = '{"key":"' .. base64(key) .. '","value":"' .. base64(value_of(i)) .. '"}'
      req = wrk.format("POST", "/v3/kv/put", {["Content-Type"] = "application/json"}, body)
    elseif target == "etcd" and op == "get" then
      local body = '{"key":"' .. base64(key) .. '"}'
      req = wrk.format("POST", "/v3/kv/range", {["Content-Type"] = "application/json"}, body)
    else
      error("KV_TARGET must be praetor|etcd and KV_OP put|get")
    end
    requests[i + 1] = req
  end
  -- Threads start at different keys (thread_index is set by setup()).
  next_request = ((thread_index or 0) * 487) % key_count + 1
end

function request()
  local req = requests[next_request]
  next_request = next_request % key_count + 1
  return req
end

function done(summary, latency, requests_unused)
  local e = summary.errors
  io.write(string.format(
      "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      e.connect + e.read + e.write + e.timeout, e.status))
end
