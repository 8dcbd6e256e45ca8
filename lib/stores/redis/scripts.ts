/**
 * The Lua side of the Redis store. Each script touches the keys of one shard (one hash tag, so one Cluster slot),
 * plus, without a Cluster only, the epoch and tag sets, which is what makes a set atomic against purges there.
 *
 * A group hash holds `v`, the vary list (comma-separated), `m`, a JSON object variant → "storedAt expiresAt
 * staleUntil bytes", and `=<variant>`, the encoded entry of each variant. The shard's index hash holds one record
 * per cache key, "storedAt expiresAt staleUntil bytes variants hits misses countedAt url": the group's newest times,
 * size and variant count (zeros once it is gone), its counters (countedAt 0: never counted) and its remembered URL
 * (empty when none). Records are written in the same script as the group, and a scan reads a page of them with one
 * HSCAN.
 */

const PRELUDE = `
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
-- A record's counters and URL: hits, misses, countedAt, url.
local function kept (record)
  if type(record) == 'string' then
    local h, m, t, url = string.match(record, '^%d+ %d+ %d+ %d+ %d+ (%d+) (%d+) (%d+) (.*)$')
    if h then return tonumber(h), tonumber(m), tonumber(t), url end
  end
  return 0, 0, 0, ''
end
local function write (shard, key, stored, expires, last, bytes, count, h, m, t, url)
  if count == 0 and t == 0 then return redis.call('HDEL', shard, key) end
  return redis.call('HSET', shard, key,
    string.format('%d %d %d %d %d %d %d %d %s', stored, expires, last, bytes, count, h, m, t, url))
end
-- Records of gone groups whose counters are older than keep ms (or absent) are dropped when a new record samples
-- two others, as Redis samples volatile keys: the index stays in proportion to what is stored and counted.
local function sample (shard, now, keep)
  local found = redis.call('HRANDFIELD', shard, 2, 'WITHVALUES')
  for i = 1, #found, 2 do
    local u, t = string.match(found[i + 1], '^%d+ %d+ (%d+) %d+ %d+ %d+ %d+ (%d+) ')
    if u == nil or (tonumber(u) <= now and tonumber(t) + keep < now) then redis.call('HDEL', shard, found[i]) end
  end
end
-- Rewrite a key's record from its group's variants, keeping its counters, and its URL unless the group is new
-- (then url is the one to remember, '' for none); returns the ms the group lives (0 when none is left).
local function index (shard, key, meta, reset, url, now, keep)
  local stored, expires, last, bytes, count = 0, 0, 0, 0, 0
  for _, info in pairs(meta) do
    local s, e, u, b = parse(info)
    if s then
      if s > stored then stored = s end
      if e > expires then expires = e end
      if u > last then last = u end
      bytes = bytes + b
      count = count + 1
    end
  end
  local h, m, t, old = kept(redis.call('HGET', shard, key))
  if not reset and old ~= '' then url = old end
  if count == 0 then stored, expires, last, bytes, url = 0, 0, 0, 0, '' end
  if write(shard, key, stored, expires, last, bytes, count, h, m, t, url) == 1 then sample(shard, now, keep) end
  if count == 0 then return 0 end
  return math.max(1, last - now)
end
`

/**
 * Store one variant. KEYS: group, index [, epoch, tag sets...]. With the epoch key (one Redis, no Cluster) the epoch
 * check and the tagging happen in the same atomic step; on a Cluster the caller tags and re-checks the epoch.
 * ARGV: epoch, variant, encoded entry, vary, key, url, now, storedAt, expiresAt, staleUntil, bytes, channel,
 * checkEpoch ('1' when KEYS[3] is the epoch), hasUrl ('1'), ms to keep counters. Returns the ms the group lives, or
 * 0 when the epoch moved.
 */
export const SET = `${PRELUDE}
if ARGV[13] == '1' and (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return 0 end
local group, shard, variant, key, now = KEYS[1], KEYS[2], ARGV[2], ARGV[5], tonumber(ARGV[7])
local ok, old = pcall(redis.call, 'HMGET', group, 'v', 'm')
local meta = nil
if ok and old[1] == ARGV[4] then meta = decode(old[2]) end
local reset = meta == nil
if reset then
  -- A new group (or a new vary list, or something that is not ours): it starts from nothing, its URL included.
  if not ok or old[1] or old[2] then redis.call('DEL', group) end
  meta = {}
end
for other, info in pairs(meta) do
  local _, _, u = parse(info)
  if other ~= variant and (u == nil or u <= now) then
    redis.call('HDEL', group, '=' .. other)
    meta[other] = nil
  end
end
meta[variant] = ARGV[8] .. ' ' .. ARGV[9] .. ' ' .. ARGV[10] .. ' ' .. ARGV[11]
redis.call('HSET', group, 'v', ARGV[4], 'm', cjson.encode(meta), '=' .. variant, ARGV[3])
local url = ''
if ARGV[14] == '1' then url = ARGV[6] end
local ttl = index(shard, key, meta, reset, url, now, tonumber(ARGV[15]))
redis.call('PEXPIRE', group, ttl)
if ARGV[13] == '1' then
  for i = 4, #KEYS do
    redis.call('SADD', KEYS[i], key)
    if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
redis.call('PUBLISH', ARGV[12], 'k:' .. key)
return ttl
`

/** Label a key with a tag. KEYS: tag set. ARGV: key, ms the tagged entry lives. The set lives as long as its longest entry. */
export const TAG = `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`

/**
 * Undo a set that lost a race with a purge (Cluster only): remove the variant if it is still the one written.
 * KEYS: group, index. ARGV: variant, its meta string as written, channel, key, now, ms to keep counters.
 */
export const UNSET = `${PRELUDE}
local meta = nil
local ok, m = pcall(redis.call, 'HGET', KEYS[1], 'm')
if ok then meta = decode(m) end
if meta == nil or meta[ARGV[1]] ~= ARGV[2] then return 0 end
meta[ARGV[1]] = nil
if next(meta) == nil then
  redis.call('DEL', KEYS[1])
else
  redis.call('HDEL', KEYS[1], '=' .. ARGV[1])
  redis.call('HSET', KEYS[1], 'm', cjson.encode(meta))
end
index(KEYS[2], ARGV[4], meta, false, '', tonumber(ARGV[5]), tonumber(ARGV[6]))
redis.call('PUBLISH', ARGV[3], 'k:' .. ARGV[4])
return 1
`

/**
 * Delete a group; its record keeps only the counters. KEYS: group, index [, epoch to bump first]. ARGV: channel,
 * key. Returns 1 when something was there.
 */
export const DELETE = `${PRELUDE}
if #KEYS > 2 then redis.call('INCR', KEYS[3]) end
local n = redis.call('UNLINK', KEYS[1])
local h, m, t = kept(redis.call('HGET', KEYS[2], ARGV[2]))
write(KEYS[2], ARGV[2], 0, 0, 0, 0, 0, h, m, t, '')
redis.call('PUBLISH', ARGV[1], 'k:' .. ARGV[2])
return n
`

/** Count a hit or a miss. KEYS: index. ARGV: key, 'h' or 'm', now, ms to keep counters nobody counts. */
export const COUNT = `${PRELUDE}
local record = redis.call('HGET', KEYS[1], ARGV[1])
local s, e, u, b, n = 0, 0, 0, 0, 0
if record then
  local a1, a2, a3, a4, a5 = string.match(record, '^(%d+) (%d+) (%d+) (%d+) (%d+) ')
  if a1 then s, e, u, b, n = tonumber(a1), tonumber(a2), tonumber(a3), tonumber(a4), tonumber(a5) end
end
local h, m, _, url = kept(record)
if ARGV[2] == 'h' then h = h + 1 else m = m + 1 end
local now = tonumber(ARGV[3])
if write(KEYS[1], ARGV[1], s, e, u, b, n, h, m, now, url) == 1 then sample(KEYS[1], now, tonumber(ARGV[4])) end
return 1
`

/** Release a lock only if this caller still holds it. KEYS: lock. ARGV: token. */
export const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

/**
 * One HSCAN step of the totals. KEYS: a shard's index. ARGV: cursor, count, now. Returns { next cursor, variants and
 * bytes of live groups, hits, misses }.
 */
export const TOTALS = `
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local found, now, entries, bytes, hits, misses = page[2], tonumber(ARGV[3]), 0, 0, 0, 0
for i = 2, #found, 2 do
  local u, b, n, h, m = string.match(found[i], '^%d+ %d+ (%d+) (%d+) (%d+) (%d+) (%d+) ')
  if u then
    if tonumber(u) > now then
      entries = entries + tonumber(n)
      bytes = bytes + tonumber(b)
    end
    hits = hits + tonumber(h)
    misses = misses + tonumber(m)
  end
end
return { page[1], entries, bytes, hits, misses }
`
