-- One GCRA step for one tenant, atomic, on the server's clock (TIME), so the replicas' clocks
-- do not matter. Same meaning as the local limiter: one unit every `interval`, `burst` at once.
-- KEYS[1] {scimgate:<tenant>}:tat   theoretical arrival time, µs since 2023-11-14 (a float)
-- KEYS[2] {scimgate:<tenant>}:hold  set while a target's Retry-After holds the tenant
-- ARGV[1] interval (µs per unit, may be fractional)   ARGV[2] burst
-- ARGV[3] want (the lease)   ARGV[4] min (the request's cost)
-- ARGV[5] ahead (µs a lease may start later when the bucket is empty now; 0 = now or never)
-- ARGV[6] refund (units of an expired lease, given back first)
-- ARGV[7] '1': a missing bucket starts empty (the replica saw the tenant at its limit)
-- ARGV[8] keep (ms the key outlives the moment its bucket is full again)
-- Returns {granted, start_in_us, hold_ms, retry_us, ask_again_us}.
local hold = redis.call('PTTL', KEYS[2])
if hold > 0 then
  return {0, 0, hold, 0, 0}
end
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local min = tonumber(ARGV[4])
local ahead = tonumber(ARGV[5])
local refund = tonumber(ARGV[6])
local keep = tonumber(ARGV[8])
local tau = burst * interval
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil then
  if ARGV[7] == '1' then tat = now + tau else tat = now end
end
tat = math.max(tat - refund * interval, now)

local function save(v)
  local ttl = math.floor((v - now) / 1000) + keep
  redis.call('SET', KEYS[1], string.format('%.17g', v), 'PX', ttl)
end

-- Units that conform now (a small epsilon absorbs float rounding of fractional intervals).
local n = math.floor((now + tau - tat) / interval + 1e-6)
if n >= min then
  n = math.min(n, want)
  save(tat + n * interval)
  return {n, 0, 0, 0, 0}
end
-- Else a lease that starts within `ahead`: the units conform only then.
n = math.floor((now + ahead + tau - tat) / interval + 1e-6)
if n >= min then
  n = math.min(n, want)
  local new_tat = tat + n * interval
  save(new_tat)
  return {n, math.max(math.ceil(new_tat - tau - now), 1), 0, 0, 0}
end
save(tat)
local retry = tat + min * interval - tau - now
return {0, 0, 0, math.max(math.ceil(retry), 1), math.max(math.ceil(retry - ahead), 1)}
