-- KEYS[1] waiting list, KEYS[2] processing zset. ARGV[1] most jobs to move.
-- Moves every job whose visibility deadline has passed (its consumer died or is too slow)
-- back to the waiting list. Returns how many were moved.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(stale) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('RPUSH', KEYS[1], id)
end
return #stale
