-- mix.lua's requests, with wrk stopping after N answers (env N, default 4000): a run of a fixed
-- number of requests, for counts a request (benches/allocs.sh).
local limit = tonumber(os.getenv("N") or "4000")
local seen = 0
dofile("benches/load/mix.lua")
function response(status, headers, body)
  seen = seen + 1
  if seen >= limit then wrk.thread:stop() end
end
