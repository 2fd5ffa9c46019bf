-- Hold a tenant on every replica: keep the longer of the stored hold and this one, and
-- announce it (replicas that miss the message learn it from gcra.lua's next call).
-- KEYS[1] {scimgate:<tenant>}:hold   ARGV[1] hold (ms)   ARGV[2] channel   ARGV[3] tenant
-- Returns the hold in force (ms).
local ms = tonumber(ARGV[1])
local current = redis.call('PTTL', KEYS[1])
if current < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
else
  ms = current
end
redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. ms)
return ms
