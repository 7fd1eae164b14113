-- wrk script for scripts/load.mjs: cycles through a fixed mix of requests
-- (valid photos and bad inputs), counts answers by status, and stops each
-- thread after its share of the total. Args: SHARE then FILE... where each
-- FILE is a request spec written by load.mjs: method, path, content type
-- (or "-"), then the body, separated by the first three newlines.

local share, requests, i = 0, {}, 0
counts = {}
finished = 0

local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

function init(args)
  share = tonumber(args[1])
  for k = 2, #args do
    local spec = read(args[k])
    local method, path, ctype, body = spec:match("^([^\n]*)\n([^\n]*)\n([^\n]*)\n(.*)$")
    local headers = {}
    if ctype ~= "-" then headers["Content-Type"] = ctype end
    if #body == 0 then body = nil end
    if body == nil and method == "POST" then headers["Content-Length"] = "0" end
    requests[#requests + 1] = wrk.format(method, path, headers, body)
  end
end

-- Each connection walks the cycle from a different start, so the mix
-- in flight at any moment is mixed too.
function request()
  i = i + 1
  return requests[(i - 1) % #requests + 1]
end

local shown = 0
-- wrangler dev's ProxyWorker answers a failed hop to workerd with this 503
-- (whatever the cause); the worker's own errors are problem+json.
local PROXY_503 = "Your worker restarted mid%-request"

function response(status, headers, body)
  local key = status
  if status == 503 and body and body:find(PROXY_503) then key = 1503 end -- "proxy 503"
  counts[key] = (counts[key] or 0) + 1
  -- The first few server errors, to say where they came from.
  if status >= 500 and shown < 3 then
    shown = shown + 1
    io.write(string.format("load.lua: %d answer: %s\n", status, (body or ""):sub(1, 300):gsub("\n", " ")))
  end
  finished = finished + 1
  if finished == share then
    io.write("load.lua: thread done\n")
    io.flush()
    wrk.thread:stop()
  end
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, _)
  local all = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do all[status] = (all[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(all) do parts[#parts + 1] = string.format('"%d":%d', status, n) end
  local e = summary.errors
  io.write(string.format(
    'LOAD {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"statuses":{%s},"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, table.concat(parts, ","), e.connect, e.read, e.write, e.timeout))
end
