-- Token bucket, atomic on the server: capacity `limit`, refilled continuously at
-- `limit` tokens per `window` ms; each request takes one token.
-- KEYS[1] a hash { tokens, ts }. ARGV[1] limit, ARGV[2] window in ms.
-- Clock: the server's TIME. Returns { allowed (1|0), remaining (whole tokens left),
-- resetAt (ms: when the bucket is full again), retryAfterMs (0 when allowed), now }.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local rate = cap / window -- tokens per ms

local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = cap
  ts = now
end
if now > ts then
  tokens = math.min(cap, tokens + (now - ts) * rate)
end

local allowed = 0
local retryAfter = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retryAfter = math.ceil((1 - tokens) / rate)
end
local toFull = math.ceil((cap - tokens) / rate)
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.max(toFull, 1))
return { allowed, math.floor(tokens), now + toFull, retryAfter, now }
