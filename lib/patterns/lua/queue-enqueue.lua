-- KEYS[1] waiting list, KEYS[2] delayed zset, KEYS[3] the job hash (all share the queue's hash tag).
-- ARGV[1] job id, ARGV[2] data (JSON), ARGV[3] delay in ms (0 = now).
-- A job id that already exists is not enqueued again (idempotent enqueue); returns 0 then, else 1.
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[3], 'data', ARGV[2], 'enqueuedAt', now, 'attempts', 0)
local delay = tonumber(ARGV[3])
if delay > 0 then
  redis.call('ZADD', KEYS[2], now + delay, ARGV[1])
else
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
return 1
