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

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format('{"requests":%d,"seconds":%f,"errors":%d,"non2xx":%d,"p50us":%f,"p99us":%f,"meanus":%f}\n',
    summary.requests, summary.duration / 1e6, errors, summary.errors.status, latency:percentile(50), latency:percentile(99), latency.mean))
end
