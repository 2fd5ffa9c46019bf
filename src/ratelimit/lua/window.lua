-- The deletion guard's sliding window, one per tenant and counter, on the server's clock.
-- KEYS[1] sorted set of events (score: server TIME in µs, one member per event)
-- KEYS[2] the release marker (exists while an operator's release lasts)
-- KEYS[3] a sequence that makes members unique
-- ARGV[1] "add" (observe: count, never refuse), "take" (enforce) or "release"
-- ARGV[2] events n, ARGV[3] limit, ARGV[4] window in µs
-- Answer {kind, count, µs}: kind 1 taken (count after), 0 full (count, µs until room),
-- 2 released (µs left of the release).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local mode, n, limit, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local window_ms = math.max(1, math.ceil(window / 1000))
if mode == 'release' then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1', 'PX', window_ms)
  return {2, 0, window}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if mode == 'take' then
  local left = redis.call('PTTL', KEYS[2])
  if left > 0 then
    return {2, count, left * 1000}
  end
  if count + n > limit then
    if n > limit then
      return {0, count, window}
    end
    -- Room comes when the (count + n - limit)-th oldest event leaves the window.
    local oldest = redis.call('ZRANGE', KEYS[1], count + n - limit - 1, count + n - limit - 1, 'WITHSCORES')
    local at = tonumber(oldest[2]) or now
    return {0, count, math.max(0, at + window - now)}
  end
end
local seq = redis.call('INCRBY', KEYS[3], n)
for i = 1, n do
  redis.call('ZADD', KEYS[1], now, tostring(seq - n + i))
end
redis.call('PEXPIRE', KEYS[1], window_ms + 1000)
redis.call('PEXPIRE', KEYS[3], window_ms + 1000)
return {1, count + n, 0}
