import { PRELUDE } from './prelude.ts'

// The Redis store's Lua scripts; prelude.ts describes the keys they work on, docs/redis.md the layout.

/**
 * Store one variant. KEYS: group, order, index [, purge record, then per tag its set and its name key]. With the purge record (one Redis, no
 * Cluster) the purge check and the tagging happen in the same atomic step; on a Cluster the caller checks and tags.
 * ARGV: 1 token, 2 seq, 3 variant, 4 encoded entry, 5 times, 6 vary, 7 key, 8 url, 9 hasUrl ('1'), 10 now,
 * 11 maxVariants, 12 channel, 13 ms to keep counters, 14 check ('1' when KEYS[4] is the purge record), 15 tag count,
 * 16... tags. Returns { ms the group lives (0: refused), 1 when the index or a tag set was not ours }.
 */
export const SET = `${PRELUDE}
local group, order, shard = KEYS[1], KEYS[2], KEYS[3]
local variant, key, now = ARGV[3], ARGV[7], tonumber(ARGV[10])
local ntags = tonumber(ARGV[15])
local url = false
if ARGV[9] == '1' then url = ARGV[8] end
if ARGV[14] == '1' then
  local tags = {}
  for i = 1, ntags do tags[ARGV[15 + i]] = true end
  if refused(KEYS[4], ARGV[1], ARGV[2], key, url, tags) then return { 0, 0 } end
end
-- The first write is one Redis refuses when it is at maxmemory (noeviction): a set must fail then, not slip in
-- behind a DEL, which a full Redis allows and after which a script may go on writing.
local counted, seq = pcall(redis.call, 'HINCRBY', group, 'c', 1)
if not counted and string.find(errorText(seq), 'OOM', 1, true) then return redis.error_reply(errorText(seq)) end
local ok, head = pcall(redis.call, 'HMGET', group, 'f', 'v', 's', 'x', 'u', 'b', 't', 'm:' .. variant)
local reset = not counted or not ok or head[1] ~= '2' or head[2] ~= ARGV[6] or not pcall(redis.call, 'ZCARD', order)
local s, x, u, b, tagged = 0, 0, 0, 0, ''
if reset then
  -- A new group (or a new vary list, or something that is not ours): it starts from nothing, its URL included.
  redis.call('DEL', group, order)
  seq = redis.call('HINCRBY', group, 'c', 1)
else
  s, x, u, b, tagged = tonumber(head[3]) or 0, tonumber(head[4]) or 0, tonumber(head[5]) or 0, tonumber(head[6]) or 0, head[7] or ''
  local _, _, _, old = parse(head[8])
  if old then b = b - old end
end
local ns, ne, nu, nb = parse(ARGV[5])
redis.call('HSET', group, 'f', '2', 'v', ARGV[6], '=' .. variant, ARGV[4], 'm:' .. variant, ARGV[5] .. ' ' .. seq)
redis.call('ZADD', order, seq, variant)
b = b + nb
local count = redis.call('ZCARD', order)
local function drop (other)
  local _, _, _, ob = parse(redis.call('HGET', group, 'm:' .. other))
  if ob then b = b - ob end
  redis.call('HDEL', group, '=' .. other, 'm:' .. other)
  redis.call('ZREM', order, other)
  count = count - 1
end
local max = math.max(tonumber(ARGV[11]), 1)
while count > max do drop(redis.call('ZRANGE', order, 0, 0)[1]) end
-- The oldest variants, when past their staleUntil, go too: a couple per write keeps dead ones from piling up.
for _ = 1, 2 do
  local oldest = redis.call('ZRANGE', order, 0, 0)[1]
  if oldest == nil or oldest == variant then break end
  local _, _, ou = parse(redis.call('HGET', group, 'm:' .. oldest))
  if ou ~= nil and ou > now then break end
  drop(oldest)
end
s, x, u = math.max(s, ns), math.max(x, ne), math.max(u, nu)
for i = 1, ntags do
  local tag = ARGV[15 + i]
  if string.find('\\n' .. tagged .. '\\n', '\\n' .. tag .. '\\n', 1, true) == nil then
    if tagged == '' then tagged = tag else tagged = tagged .. '\\n' .. tag end
  end
end
redis.call('HSET', group, 's', s, 'x', x, 'u', u, 'b', b, 't', tagged, 'n', count)
local foreign = 0
if not record(shard, key, s, x, u, b, count, reset, url or '', now, tonumber(ARGV[13])) then foreign = 1 end
local ttl = math.max(1, u - now)
redis.call('PEXPIRE', group, ttl)
redis.call('PEXPIRE', order, ttl)
if ARGV[14] == '1' then
  for i = 5, #KEYS, 2 do
    if not pcall(redis.call, 'SADD', KEYS[i], key) then foreign = 1 end
    redis.call('SET', KEYS[i + 1], ARGV[16 + (i - 5) / 2], 'NX')
  end
end
redis.call('PUBLISH', ARGV[12], 'k:' .. key)
return { ttl, foreign }
`

/**
 * Undo a set that lost a race with a purge (Cluster only): remove the variant if it is still the one written.
 * KEYS: group, order, index. ARGV: variant, its times as written, channel, key, now, ms to keep counters.
 */
export const UNSET = `${PRELUDE}
local group, order, variant = KEYS[1], KEYS[2], ARGV[1]
local ok, head = pcall(redis.call, 'HMGET', group, 'm:' .. variant, 'b', 's', 'x', 'u')
if not ok or type(head[1]) ~= 'string' or string.sub(head[1], 1, #ARGV[2] + 1) ~= ARGV[2] .. ' ' then return 0 end
local _, _, _, vb = parse(head[1])
redis.call('HDEL', group, '=' .. variant, 'm:' .. variant)
redis.call('ZREM', order, variant)
local count = redis.call('ZCARD', order)
local b = (tonumber(head[2]) or 0) - vb
if count == 0 then redis.call('DEL', group, order) else redis.call('HSET', group, 'b', b, 'n', count) end
record(KEYS[3], ARGV[4], tonumber(head[3]) or 0, tonumber(head[4]) or 0, tonumber(head[5]) or 0, b, count, false, '',
  tonumber(ARGV[5]), tonumber(ARGV[6]))
redis.call('PUBLISH', ARGV[3], 'k:' .. ARGV[4])
return 1
`

/**
 * Purge one group; its record keeps only the counters. KEYS: group, order, index [, purge record to list the key in].
 * ARGV: channel, key, candidate token, now, soft ('1'), grace ms, ms to keep counters. A soft purge marks every live variant stale from
 * now, servable until now + max(grace, its own stale window). Returns { 1 when something was there, 1 when the
 * purge record had to be made anew, the tags of a hard-purged group (newline-separated), for the caller to untag }.
 * A write that Redis allows at maxmemory comes first (UNLINK, HDEL): a script that has written may go on writing, so
 * purges work on a full Redis.
 */
export const PURGE = `${PRELUDE}
local group, order, key, now = KEYS[1], KEYS[2], ARGV[2], tonumber(ARGV[4])
local found, foreign, tags = 0, 0, ''
if ARGV[5] == '1' then
  pcall(redis.call, 'HDEL', group, '-')
  local ok, variants = pcall(redis.call, 'ZRANGE', order, 0, -1)
  if ok and #variants > 0 then
    local fields = {}
    for i, v in ipairs(variants) do fields[i] = 'm:' .. v end
    local times = redis.call('HMGET', group, unpack(fields))
    local grace, x, u, last = tonumber(ARGV[6]), 0, 0, 0
    local head = redis.call('HMGET', group, 's', 'b')
    for i, v in ipairs(variants) do
      local s, e, su, b, _, q = parse(times[i])
      if s and su > now then
        local ne = math.min(e, now)
        local nu = now + math.max(grace, su - e)
        redis.call('HSET', group, fields[i], string.format('%d %d %d %d 1 %d', s, ne, nu, b, q))
        found = 1
        x, u = math.max(x, ne), math.max(u, nu)
      end
    end
    if found == 1 then
      redis.call('HSET', group, 'x', x, 'u', u)
      redis.call('PEXPIRE', group, u - now)
      redis.call('PEXPIRE', order, u - now)
      record(KEYS[3], key, tonumber(head[1]) or 0, x, u, tonumber(head[2]) or 0, #variants, false, '', now, tonumber(ARGV[7]))
    end
  end
else
  local ok, t = pcall(redis.call, 'HGET', group, 't')
  if ok and t then tags = t end
  if redis.call('UNLINK', group, order) > 0 then found = 1 end
  local ok, old = pcall(redis.call, 'HGET', KEYS[3], key)
  if ok then
    local h, m, t = kept(old)
    write(KEYS[3], key, 0, 0, 0, 0, 0, h, m, t, '')
  end
end
if #KEYS > 3 then foreign = note(KEYS[4], ARGV[3], 'k ' .. key) end
redis.call('PUBLISH', ARGV[1], 'k:' .. key)
return { found, foreign, tags }
`

/**
 * List purges in the purge record. KEYS: purge record. ARGV: candidate token, kind ('k', 't' or 'p'), values...
 * Returns 1 when the record had to be made anew from something not ours.
 */
export const NOTE = `${PRELUDE}
local foreign = 0
for i = 3, #ARGV do
  if note(KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[i]) == 1 then foreign = 1 end
end
return foreign
`

/** The current epoch. KEYS: purge record. ARGV: candidate token. Returns { token, counter, 1 when made anew from garbage }. */
export const EPOCH = `${PRELUDE}
local token, n, _, foreign = state(KEYS[1], ARGV[1])
return { token, tostring(n), foreign }
`

/**
 * Whether a purge since an epoch covers an entry (Cluster: the purge record is on its own slot). KEYS: purge record.
 * ARGV: token, seq, key, url, hasUrl ('1'), tags... Returns 1 when refused.
 */
export const CHECK = `${PRELUDE}
local tags = {}
for i = 6, #ARGV do tags[ARGV[i]] = true end
local url = false
if ARGV[5] == '1' then url = ARGV[4] end
if refused(KEYS[1], ARGV[1], ARGV[2], ARGV[3], url, tags) then return 1 end
return 0
`

/** Start a new lifetime: every epoch handed out before is refused. KEYS: purge record. ARGV: new token. */
export const RENEW = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 't', ARGV[1], 'n', 0, 'o', 1)
return 1
`

/** Label a key with a tag (Cluster: tag sets live on their own slots). KEYS: tag set, name key. ARGV: key, tag. */
export const TAG = `
local ok = pcall(redis.call, 'SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'NX')
if ok then return 1 end
return 0
`

/** Drop a tag whose set no key is left in. KEYS: tag set, name key. */
export const UNTAG = `
local ok, n = pcall(redis.call, 'SCARD', KEYS[1])
if ok and n > 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`

/** Count a hit or a miss. KEYS: index. ARGV: key, 'h' or 'm', now, ms to keep counters nobody counts. */
export const COUNT = `${PRELUDE}
local ok, record = pcall(redis.call, 'HGET', KEYS[1], ARGV[1])
if not ok then return 0 end
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

/**
 * Mark a variant used, so the least recently used one is the next to go over maxVariants. KEYS: group, order.
 * ARGV: variant. A variant that is not stored (any more) is left alone.
 */
export const TOUCH = `${PRELUDE}
local s, e, u, b, soft = parse(redis.call('HGET', KEYS[1], 'm:' .. ARGV[1]))
if s == nil or redis.call('ZSCORE', KEYS[2], ARGV[1]) == false then return 0 end
local seq = redis.call('HINCRBY', KEYS[1], 'c', 1)
redis.call('ZADD', KEYS[2], 'XX', seq, ARGV[1])
redis.call('HSET', KEYS[1], 'm:' .. ARGV[1], string.format('%d %d %d %d %s %d', s, e, u, b, soft, seq))
return 1
`

/** Take a variant's regeneration lock for this process. KEYS: lock. ARGV: the process's token, ms. */
export const LOCK = `
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0
`

/** Release a lock only if this process holds it. KEYS: lock. ARGV: token. */
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
