/**
 * The Lua side of the Redis store. Every script that writes touches the keys of one cache key only (one hash tag,
 * so one Cluster slot); the read-only page scripts (`SCAN_INFO`, `SUMMARY`) and `UNLINK_ALL` take many keys of one
 * node and run with the `allow-cross-slot-keys` flag on a Cluster.
 *
 * A group hash holds: `k` the cache key, `v` the vary list (comma-separated), `u` the remembered URL, `m` a JSON
 * object variant → "storedAt expiresAt staleUntil bytes", and `=<variant>` the encoded entry of each variant.
 */

// Parses one `m` value: its fields as numbers, or nothing when it is not ours.
const PARSE_META = `
local function parse (info)
  if type(info) ~= 'string' then return nil end
  local s, e, u, b = string.match(info, '^(%d+) (%d+) (%d+) (%d+)$')
  if s == nil then return nil end
  return tonumber(s), tonumber(e), tonumber(u), tonumber(b)
end
local function decode (text)
  if not text then return nil end
  local ok, meta = pcall(cjson.decode, text)
  if ok and type(meta) == 'table' then return meta end
  return nil
end
`

/**
 * Store one variant. KEYS: group [, epoch, tag sets...]. With an epoch key (one Redis, no Cluster) the epoch check and
 * the tagging happen in the same atomic step; on a Cluster the caller tags and re-checks the epoch afterwards.
 * ARGV: epoch, variant, encoded entry, vary, key, url ('' = none), now, storedAt, expiresAt, staleUntil, bytes,
 * channel, checkEpoch ('1' when KEYS[2] is the epoch), hasUrl ('1'). Returns 1 when stored, 0 when the epoch moved.
 */
export const SET = `${PARSE_META}
if ARGV[13] == '1' and (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
local group, variant, now = KEYS[1], ARGV[2], tonumber(ARGV[7])
local kind = redis.call('TYPE', group).ok
local meta = nil
if kind == 'hash' and redis.call('HGET', group, 'v') == ARGV[4] then meta = decode(redis.call('HGET', group, 'm')) end
if meta == nil then
  if kind ~= 'none' then redis.call('DEL', group) end
  meta = {}
end
local last = tonumber(ARGV[10])
for other, info in pairs(meta) do
  if other ~= variant then
    local _, _, u = parse(info)
    if u == nil or u <= now then
      redis.call('HDEL', group, '=' .. other)
      meta[other] = nil
    elseif u > last then
      last = u
    end
  end
end
meta[variant] = ARGV[8] .. ' ' .. ARGV[9] .. ' ' .. ARGV[10] .. ' ' .. ARGV[11]
redis.call('HSET', group, 'k', ARGV[5], 'v', ARGV[4], 'm', cjson.encode(meta), '=' .. variant, ARGV[3])
if ARGV[14] == '1' then redis.call('HSETNX', group, 'u', ARGV[6]) end
local ttl = math.max(1, last - now)
redis.call('PEXPIRE', group, ttl)
if ARGV[13] == '1' then
  for i = 3, #KEYS do
    redis.call('SADD', KEYS[i], ARGV[5])
    if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
redis.call('PUBLISH', ARGV[12], 'k:' .. ARGV[5])
return 1
`

/** Label a key with a tag. KEYS: tag set. ARGV: key, ms the tagged entry lives. The set lives as long as its longest entry. */
export const TAG = `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`

/**
 * Undo a set that lost a race with a purge (Cluster only): remove the variant if it is still the one written.
 * KEYS: group. ARGV: variant, its meta string as written, channel, key.
 */
export const UNSET = `${PARSE_META}
local meta = nil
if redis.call('TYPE', KEYS[1]).ok == 'hash' then meta = decode(redis.call('HGET', KEYS[1], 'm')) end
if meta == nil or meta[ARGV[1]] ~= ARGV[2] then return 0 end
meta[ARGV[1]] = nil
if next(meta) == nil then
  redis.call('DEL', KEYS[1])
else
  redis.call('HDEL', KEYS[1], '=' .. ARGV[1])
  redis.call('HSET', KEYS[1], 'm', cjson.encode(meta))
end
redis.call('PUBLISH', ARGV[3], 'k:' .. ARGV[4])
return 1
`

/** Delete a group. KEYS: group [, epoch to bump first]. ARGV: channel, key. Returns 1 when something was there. */
export const DELETE = `
if #KEYS > 1 then redis.call('INCR', KEYS[2]) end
local n = redis.call('UNLINK', KEYS[1])
redis.call('PUBLISH', ARGV[1], 'k:' .. ARGV[2])
return n
`

/** Count a hit or a miss. KEYS: stats hash. ARGV: field, ms to keep the stats after their last change. */
export const COUNT = `
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`

/** Release a lock only if this caller still holds it. KEYS: lock. ARGV: token. */
export const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

/**
 * One page of remembered URLs. KEYS: group, stats, group, stats, ... ARGV: now. Returns a JSON array of
 * [key, url, storedAt, expiresAt, bytes, hits, misses] (hits -1: no stats) for groups that have a URL and a live variant.
 */
export const SCAN_INFO = `${PARSE_META}
local now, out = tonumber(ARGV[1]), {}
for i = 1, #KEYS, 2 do
  local r = redis.pcall('HMGET', KEYS[i], 'k', 'u', 'm')
  if r.err == nil and r[1] and r[2] then
    local meta = decode(r[3])
    local stored, expires, bytes = 0, 0, 0
    if meta then
      for _, info in pairs(meta) do
        local s, e, u, b = parse(info)
        if s and u > now then
          if s > stored then stored = s end
          if e > expires then expires = e end
          bytes = bytes + b
        end
      end
    end
    if stored > 0 then
      local hits, misses = -1, -1
      local st = redis.pcall('HMGET', KEYS[i + 1], 'h', 'm')
      if st.err == nil and (st[1] or st[2]) then
        hits, misses = tonumber(st[1]) or 0, tonumber(st[2]) or 0
      end
      out[#out + 1] = { r[1], r[2], stored, expires, bytes, hits, misses }
    end
  end
end
if #out == 0 then return '[]' end
return cjson.encode(out)
`

/** Totals over a page of keys. KEYS: groups and stats hashes (told apart by suffix). ARGV: now. Returns {entries, bytes, hits, misses}. */
export const SUMMARY = `${PARSE_META}
local now, entries, bytes, hits, misses = tonumber(ARGV[1]), 0, 0, 0, 0
for i = 1, #KEYS do
  local key = KEYS[i]
  if string.sub(key, -2) == ':e' then
    local r = redis.pcall('HGET', key, 'm')
    local meta = (type(r) == 'string') and decode(r) or nil
    if meta then
      for _, info in pairs(meta) do
        local s, _, u, b = parse(info)
        if s and u > now then
          entries = entries + 1
          bytes = bytes + b
        end
      end
    end
  else
    local st = redis.pcall('HMGET', key, 'h', 'm')
    if st.err == nil then
      hits = hits + (tonumber(st[1]) or 0)
      misses = misses + (tonumber(st[2]) or 0)
    end
  end
end
return { entries, bytes, hits, misses }
`

/** Unlink the given keys of one node (Cluster: keys of several slots). */
export const UNLINK_ALL = `
for i = 1, #KEYS do redis.call('UNLINK', KEYS[i]) end
return #KEYS
`

/** The same script runnable on one Cluster node over keys of several of its slots (Redis 7+ script flags). */
export function crossSlot (lua: string, writes: boolean): string {
  return `#!lua flags=${writes ? '' : 'no-writes,'}allow-cross-slot-keys\n${lua}`
}
