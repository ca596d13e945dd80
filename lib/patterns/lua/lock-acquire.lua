-- KEYS[1] the lock, KEYS[2] its fencing counter (same hash tag, same slot).
-- ARGV[1] a random owner id, ARGV[2] the TTL in ms.
-- Takes the lock if it is free and returns the token "<fence>:<random>", where <fence>
-- is INCR of the counter: every successful acquisition gets a strictly larger fence.
-- Returns nil (false) when the lock is held.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local fence = redis.call('INCR', KEYS[2])
local token = tostring(fence) .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
