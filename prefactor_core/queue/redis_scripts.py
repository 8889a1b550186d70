"""Lua scripts that make each multi-key step of `RedisQueue` atomic.

Each script runs as one command on the server, so a client that dies between
two steps (for example after scheduling a retry and before acknowledging the
entry) cannot lose an item or leave it half moved. Times are read from the
server's clock with TIME, so clients on machines with skewed clocks agree on
when a retry is due.

A scheduled retry is stored as a member of a sorted set scored by its due time
in milliseconds. The member packs the fields of the stream entry to recreate:
``token \\n attempts \\n encoding \\n payload``. The random token keeps two
retries of equal items apart, and the payload comes last because it may
contain newlines.
"""

from __future__ import annotations

__all__ = ["ACK", "DEAD_LETTER", "KEEP_LEASES", "MOVE_DUE", "NACK", "REMOVE_CONSUMER"]

# The server's clock in milliseconds, shared by the scripts that need it.
_NOW_MS = """
local clock = redis.call('TIME')
local now_us = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local now = math.floor(now_us / 1000)
"""

# KEYS: stream. ARGV: group, entry id.
# Acknowledges the entry and deletes it, so the stream only contains entries that
# are waiting or being handled. XACK fails when the group is gone (the server
# restarted without persistence); the entry is then already lost to the group.
ACK = """
pcall(redis.call, 'XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""

# KEYS: stream, delayed set. ARGV: group, entry id, delay in ms, member.
# Schedules the retry first and only then acknowledges the entry. Returns the
# server time in microseconds, which orders the retry against MOVE_DUE's count.
NACK = (
    _NOW_MS
    + """
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[4])
pcall(redis.call, 'XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return now_us
"""
)

# KEYS: stream, dead-letter stream. ARGV: group, entry id, then the field and
# value pairs of the dead-letter entry.
DEAD_LETTER = """
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
pcall(redis.call, 'XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""

# KEYS: delayed set, stream. ARGV: max entries to move, group.
# Moves retries that are due back to the stream, then returns {moved, ms until
# the next retry is due or -1, undelivered entries, retries still waiting, the
# stream's last generated id, server time in microseconds}. Undelivered entries
# are counted as XLEN minus the group's pending entries, which is exact because
# acknowledged entries are deleted.
MOVE_DUE = (
    _NOW_MS
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(due) do
  local a = string.find(member, '\\n', 1, true)
  local b = a and string.find(member, '\\n', a + 1, true)
  local c = b and string.find(member, '\\n', b + 1, true)
  if c then
    redis.call('XADD', KEYS[2], '*',
      'd', string.sub(member, c + 1),
      'e', string.sub(member, b + 1, c - 1),
      'a', string.sub(member, a + 1, b - 1))
  else
    -- Without the 'd' field the receiver dead-letters it as malformed.
    redis.call('XADD', KEYS[2], '*', 'malformed_retry', member)
  end
  redis.call('ZREM', KEYS[1], member)
end
local wait = -1
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first > 0 then
  wait = math.max(0, tonumber(first[2]) - now)
end
local undelivered = redis.call('XLEN', KEYS[2])
local ok, summary = pcall(redis.call, 'XPENDING', KEYS[2], ARGV[2])
if ok then
  undelivered = undelivered - summary[1]
end
if undelivered < 0 then
  undelivered = 0
end
local last_id = '0-0'
if redis.call('EXISTS', KEYS[2]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[2])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      last_id = info[i + 1]
    end
  end
end
return {#due, wait, undelivered, redis.call('ZCARD', KEYS[1]), last_id, now_us}
"""
)

# KEYS: stream. ARGV: group, consumer, entry ids.
# Resets the idle time of the entries that this consumer still owns, so that
# XAUTOCLAIM on other consumers leaves them alone while a slow handler runs.
# Returns the ids that another consumer has reclaimed meanwhile.
KEEP_LEASES = """
local lost = {}
for i = 3, #ARGV do
  local ok, owned = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if ok and #owned == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""

# KEYS: stream. ARGV: group, consumer.
# Deletes the consumer only when it owns no pending entry, because
# XGROUP DELCONSUMER drops the pending entries of the consumer it deletes.
# Returns 1 when deleted, 0 when the consumer still owns entries.
REMOVE_CONSUMER = """
local ok, owned = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if not ok or #owned > 0 then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
