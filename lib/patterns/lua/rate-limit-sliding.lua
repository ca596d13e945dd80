-- Sliding-window LOG rate limit, atomic on the server.
-- KEYS[1] a sorted set of the requests allowed in the window (score = server time in ms).
-- ARGV[1] limit, ARGV[2] window in ms, ARGV[3] a unique member id for this request.
-- The clock is the server's TIME, so every client process shares one clock.
-- Why a log and not a weighted counter: the log is exact (never lets through more than `limit`
-- in any window, and says exactly when the next slot frees); its memory is at most `limit`
-- members per key because refused requests are not recorded. The weighted counter is O(1)
-- memory but approximates the previous window as evenly spread, so it can over- or under-count.
-- Returns { allowed (1|0), remaining, resetAt (ms: when the oldest counted request leaves the
-- window, i.e. when a slot frees), retryAfterMs (0 when allowed), now (ms) }.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  count = count + 1
  allowed = 1
end
if count > 0 then
  redis.call('PEXPIRE', KEYS[1], window)
end

local resetAt = now + window
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  resetAt = tonumber(oldest[2]) + window
end
local retryAfter = 0
if allowed == 0 then
  retryAfter = math.max(resetAt - now, 0)
end
return { allowed, limit - count, resetAt, retryAfter, now }
