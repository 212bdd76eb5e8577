"""The Lua scripts of the Redis connector: each write is atomic on the server.

For schema ``S`` in namespace ``N`` the connector keeps:

- ``N:S``, a hash: record key -> encoded record;
- ``N:S:idx``, a hash: record key -> JSON list of the index sets that hold
  the key (only for records with indexed fields);
- ``N:S:idx:<field>:<token>``, a set: the keys of the records whose indexed
  ``field`` has that token (see :func:`volnux_actors.records.index_token`).

Every write goes through a script that reads the record's old index sets
from ``N:S:idx``, so an update that changes an indexed value, and a delete,
leave no stale entry, and a reader never sees a record without its index
entries. The index sets are passed in ``ARGV``, not ``KEYS``: right for one
server, not for Redis Cluster.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Script:
    """A Lua script and the SHA1 that ``EVALSHA`` names it by."""

    source: bytes
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source).hexdigest())


# KEYS: hash, index hash. ARGV: key, payload, JSON of the sets, set names.
INSERT = Script(b"""
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
for i = 4, #ARGV do
  redis.call('SADD', ARGV[i], ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
""")

# KEYS: hash, index hash. ARGV: key, payload, JSON of the sets or '', sets.
UPDATE = Script(b"""
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old == ARGV[3] or (not old and #ARGV == 3) then
  return 1
end
if old then
  for _, name in ipairs(cjson.decode(old)) do
    redis.call('SREM', name, ARGV[1])
  end
end
if #ARGV > 3 then
  for i = 4, #ARGV do
    redis.call('SADD', ARGV[i], ARGV[1])
  end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
""")

# KEYS: hash, index hash. ARGV: key.
DELETE = Script(b"""
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  for _, name in ipairs(cjson.decode(old)) do
    redis.call('SREM', name, ARGV[1])
  end
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
""")

# KEYS: hash, index hash. ARGV: groups of key, payload, JSON of the sets,
# number of sets, set names. Returns the taken keys; none means all written.
INSERT_MANY = Script(b"""
local taken = {}
local i = 1
while i <= #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    taken[#taken + 1] = ARGV[i]
  end
  i = i + 4 + tonumber(ARGV[i + 3])
end
if #taken > 0 then
  return taken
end
i = 1
while i <= #ARGV do
  local key = ARGV[i]
  local count = tonumber(ARGV[i + 3])
  redis.call('HSET', KEYS[1], key, ARGV[i + 1])
  for j = 1, count do
    redis.call('SADD', ARGV[i + 3 + j], key)
  end
  if count > 0 then
    redis.call('HSET', KEYS[2], key, ARGV[i + 2])
  end
  i = i + 4 + count
end
return {}
""")

# KEYS: hash, index hash. ARGV: keys. Returns how many were deleted.
DELETE_MANY = Script(b"""
local removed = 0
for i = 1, #ARGV do
  if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then
    removed = removed + 1
    local old = redis.call('HGET', KEYS[2], ARGV[i])
    if old then
      for _, name in ipairs(cjson.decode(old)) do
        redis.call('SREM', name, ARGV[i])
      end
      redis.call('HDEL', KEYS[2], ARGV[i])
    end
  end
end
return removed
""")

# KEYS: hash. ARGV: index sets. Returns key, record, key, record, ...
LOOKUP = Script(b"""
local keys
if #ARGV == 1 then
  keys = redis.call('SMEMBERS', ARGV[1])
else
  keys = redis.call('SINTER', unpack(ARGV))
end
local out = {}
for i = 1, #keys, 500 do
  local last = math.min(i + 499, #keys)
  local values = redis.call('HMGET', KEYS[1], unpack(keys, i, last))
  for j = 1, #values do
    if values[j] then
      out[#out + 1] = keys[i + j - 1]
      out[#out + 1] = values[j]
    end
  end
end
return out
""")

ALL = (INSERT, UPDATE, DELETE, INSERT_MANY, DELETE_MANY, LOOKUP)
BY_SHA = {script.sha: script for script in ALL}
