-- wrk script for bench/load.sh: a signed-in clinician GETting pages or API resources.
-- Arguments (after `--`): session cookie value, the Accept header, then paths.
-- Each request is the next path in the rotation, every thread starting at a
-- different point. done() prints one machine-readable BENCH line for load.sh.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Cookie"] = "speciosa_session=" .. args[1]
  wrk.headers["Accept"] = args[2]
  paths = {}
  for i = 3, #args do
    table.insert(paths, args[i])
  end
  counter = tid or 0
  non2xx = 0
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end

-- Count every status outside 200-299 (wrk's own count only includes >= 400), so a
-- redirect to the sign-in page is not mistaken for a rendered page.
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    bad, e.connect + e.read + e.write + e.timeout))
end
