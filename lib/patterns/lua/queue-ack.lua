-- KEYS[1] processing zset, KEYS[2] the job hash. ARGV[1] job id.
-- Removes the job for good. Returns 1 when it was being processed, else 0.
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return removed
