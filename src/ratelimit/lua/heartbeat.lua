-- This replica is alive; returns how many are (seen within ARGV[2] ms, on the server's clock).
-- KEYS[1] scimgate:replicas (sorted set: replica id -> last seen, ms)   ARGV[1] replica id
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stale = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - stale)
redis.call('PEXPIRE', KEYS[1], stale * 2)
return redis.call('ZCARD', KEYS[1])
