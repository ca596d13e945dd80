-- KEYS[1] waiting list, KEYS[2] processing zset (score = visibility deadline, ms),
-- KEYS[3] delayed zset. ARGV[1] visibility timeout in ms, ARGV[2] the job hash key prefix.
-- Promotes due delayed jobs, then moves the first waiting job to `processing` in the same
-- step, so a job is never in neither place. Job hashes are named from the popped id: they
-- carry the queue's hash tag, so they live in the same cluster slot as KEYS.
-- Returns { id, data, enqueuedAt, attempts, deadline } or nil when nothing is waiting.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('RPUSH', KEYS[1], id)
end

while true do
  local id = redis.call('LPOP', KEYS[1])
  if not id then
    return false
  end
  local jobKey = ARGV[2] .. id
  if redis.call('EXISTS', jobKey) == 1 then
    local attempts = redis.call('HINCRBY', jobKey, 'attempts', 1)
    local deadline = now + tonumber(ARGV[1])
    redis.call('ZADD', KEYS[2], deadline, id)
    local fields = redis.call('HMGET', jobKey, 'data', 'enqueuedAt')
    return { id, fields[1], fields[2], attempts, deadline }
  end
  -- an id whose job was already acked (a stale duplicate): skip it
end
