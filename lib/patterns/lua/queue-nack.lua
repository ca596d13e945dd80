-- KEYS[1] waiting list, KEYS[2] processing zset, KEYS[3] delayed zset.
-- ARGV[1] job id, ARGV[2] delay in ms (0 = back to the waiting list now).
-- Returns 1 when the job was in processing and is queued again, else 0.
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then
  return 0
end
local delay = tonumber(ARGV[2])
if delay > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[3], now + delay, ARGV[1])
else
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
return 1
