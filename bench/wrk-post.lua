-- wrk: POST the body in $WRK_BODY with the headers in $WRK_HEADERS ("name: value" lines), and
-- print the result as one JSON line for bench/run.ts.
local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["content-type"] = "application/json"
for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end

-- With $WRK_KEYS (a file of client keys, one a line), each request sends the next key in turn,
-- as a team's clients would.
local keys = {}
local keysFile = os.getenv("WRK_KEYS")
if keysFile and keysFile ~= "" then
  for line in io.lines(keysFile) do keys[#keys + 1] = line end
end
local turn = 0
if #keys > 0 then
  request = function()
    turn = turn % #keys + 1
    wrk.headers["authorization"] = "Bearer " .. keys[turn]
    return wrk.format()
  end
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format('{"requests":%d,"seconds":%f,"errors":%d,"non2xx":%d,"p50us":%f,"p99us":%f,"meanus":%f}\n',
    summary.requests, summary.duration / 1e6, errors, summary.errors.status, latency:percentile(50), latency:percentile(99), latency.mean))
end
