-- wrk script for bench/kv_vs_etcd.sh: one KV workload, two HTTP dialects.
--
--   KV_TARGET=praetor|etcd   KV_OP=put|get|get-stale|get-consistent|txn-rw|txn-ro
--   (environment variables)
--
-- Keys are bench/k0000 .. bench/k0999 (KV_KEYS), values 256 bytes (KV_VALUE_BYTES). Each
-- connection walks the keys round-robin from its own starting point.
--   praetor put: PUT  /v1/kv/<key>   body = the raw value (acknowledged after a majority fsync)
--   praetor get: GET  /v1/kv/<key>   default consistency (linearizable, ReadIndex)
--   etcd put:    POST /v3/kv/put     {"key": b64, "value": b64} (acknowledged after a majority fsync)
--   etcd get:    POST /v3/kv/range   {"key": b64}              (linearizable by default)
--   praetor get-stale:      GET /v1/kv/<key>?stale       (any server, its own state, no round)
--   praetor get-consistent: GET /v1/kv/<key>?consistent  (ReadIndex, as the default in praetor)
--   etcd get-stale:         POST /v3/kv/range {"key": b64, "serializable": true}
--   etcd get-consistent:    POST /v3/kv/range {"key": b64}  (the same request as etcd get)
--   praetor txn-rw: PUT  /v1/txn     [set <key> = value, get <key>]     (one Raft entry)
--   praetor txn-ro: PUT  /v1/txn     [get <key>, get <next key>]        (ReadIndex, not logged)
--   etcd txn-rw:    POST /v3/kv/txn  success: [request_put <key>, request_range <key>]
--   etcd txn-ro:    POST /v3/kv/txn  success: [request_range <key>, request_range <next key>]
--   (no compare: etcd takes the success branch; a read-only txn is a linearizable read)
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
    local next_key = key_name((i + 1) % key_count)
    local kb, nb, vb = base64(key), base64(next_key), base64(value_of(i))
    local json = {["Content-Type"] = "application/json"}
    local req
    if target == "praetor" and op == "put" then
      req = wrk.format("PUT", "/v1/kv/" .. key, nil, value_of(i))
    elseif target == "praetor" and op == "get" then
      req = wrk.format("GET", "/v1/kv/" .. key, nil, nil)
    elseif target == "praetor" and op == "get-stale" then
      req = wrk.format("GET", "/v1/kv/" .. key .. "?stale", nil, nil)
    elseif target == "praetor" and op == "get-consistent" then
      req = wrk.format("GET", "/v1/kv/" .. key .. "?consistent", nil, nil)
    elseif target == "praetor" and op == "txn-rw" then
      local body = '[{"KV":{"Verb":"set","Key":"' .. key .. '","Value":"' .. vb .. '"}},' ..
          '{"KV":{"Verb":"get","Key":"' .. key .. '"}}]'
      req = wrk.format("PUT", "/v1/txn", json, body)
    elseif target == "praetor" and op == "txn-ro" then
      local body = '[{"KV":{"Verb":"get","Key":"' .. key .. '"}},' ..
          '{"KV":{"Verb":"get","Key":"' .. next_key .. '"}}]'
      req = wrk.format("PUT", "/v1/txn", json, body)
    elseif target == "etcd" and op == "put" then
      local body = '{"key":"' .. kb .. '","value":"' .. vb .. '"}'
      req = wrk.format("POST", "/v3/kv/put", json, body)
    elseif target == "etcd" and (op == "get" or op == "get-consistent") then
      local body = '{"key":"' .. kb .. '"}'
      req = wrk.format("POST", "/v3/kv/range", json, body)
    elseif target == "etcd" and op == "get-stale" then
      local body = '{"key":"' .. kb .. '","serializable":true}'
      req = wrk.format("POST", "/v3/kv/range", json, body)
    elseif target == "etcd" and op == "txn-rw" then
      local body = '{"success":[{"request_put":{"key":"' .. kb .. '","value":"' .. vb .. '"}},' ..
          '{"request_range":{"key":"' .. kb .. '"}}]}'
      req = wrk.format("POST", "/v3/kv/txn", json, body)
    elseif target == "etcd" and op == "txn-ro" then
      local body = '{"success":[{"request_range":{"key":"' .. kb .. '"}},' ..
          '{"request_range":{"key":"' .. nb .. '"}}]}'
      req = wrk.format("POST", "/v3/kv/txn", json, body)
    else
      error("KV_TARGET must be praetor|etcd and KV_OP put|get|get-stale|get-consistent|txn-rw|txn-ro")
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
