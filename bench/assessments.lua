-- wrk script for bench/load.sh: a signed-in clinician recording a Short Opiate
-- Withdrawal Scale (SOWS, 16 items scored 0-4; data/instruments/sows.toml) for every
-- patient in turn. Each POST scores the answers, stores the assessment with its audit
-- event and runs the patient's safety rules before answering: the full write path.
-- Arguments (after `--`): session cookie value, CSRF token, then patient ids.
-- done() prints one machine-readable BENCH line for load.sh.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Cookie"] = "speciosa_session=" .. args[1]
  wrk.headers["X-CSRF-Token"] = args[2]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  -- Mild withdrawal: items alternate 1 and 0 (total 8 of 64).
  local answers = {}
  for item = 1, 16 do
    table.insert(answers, string.format('"%d":%d', item, item % 2))
  end
  body = '{"instrument":"sows","answers":{' .. table.concat(answers, ",") .. '}}'
  paths = {}
  for i = 3, #args do
    table.insert(paths, "/api/v1/patients/" .. args[i] .. "/assessments")
  end
  counter = tid or 0
  non2xx = 0
end

function request()
  counter = counter + 1
  return wrk.format("POST", paths[(counter % #paths) + 1], nil, body)
end

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
