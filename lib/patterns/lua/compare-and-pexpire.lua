-- Set KEYS[1]'s TTL to ARGV[2] ms only while it still holds ARGV[1] (the owner's token).
-- Returns 1 when extended, 0 when the lock is gone or owned by someone else.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
