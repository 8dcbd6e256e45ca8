/**
 * The Lua side of the Redis store. Each script touches the keys of one shard (one hash tag, so one Cluster slot),
 * plus, without a Cluster only, the purge record and the tag sets, which is what makes a set atomic against purges.
 *
 * A group hash holds `f` (the format, '2'), `v` (the vary list, comma-separated), `t` (its tags, newline-separated),
 * `c` (a counter ordering its variants), `s x u b` (newest storedAt, latest expiresAt and staleUntil, total bytes),
 * and per variant `=<variant>` (the encoded response) and `m:<variant>` ("storedAt expiresAt staleUntil bytes soft").
 * The order set ranks the variants by last store, so dropping the oldest one over `maxVariants` costs O(log n) and a
 * write never walks every variant. The shard's index hash holds one record per cache key, "storedAt expiresAt
 * staleUntil bytes variants hits misses countedAt url".
 *
 * The purge record holds `t` (a random token created with the record: a Redis that lost its data gets a new one),
 * `n` (the purge counter), `o` (the oldest purge still listed) and one field per recent purge, "k <key>",
 * "t <tag>" or "p <url pattern>". An epoch is "<token>:<n>"; a set is refused when a purge listed after its `n`
 * covers it, when the token changed, or when the list no longer reaches back to its `n`.
 */

/** Most purges listed; a render that began more purges ago than this is not stored. */
export const PURGE_LOG = 2000

const PRELUDE = `
local function errorText (err)
  if type(err) == 'table' then return tostring(err.err) end
  return tostring(err)
end
local function parse (info)
  if type(info) ~= 'string' then return nil end
  local s, e, u, b, soft = string.match(info, '^(%d+) (%d+) (%d+) (%d+) ([01])$')
  if s == nil then return nil end
  return tonumber(s), tonumber(e), tonumber(u), tonumber(b), soft
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
-- Rewrite a key's record, keeping its counters, and its URL unless the group is new (then url is the one to
-- remember, '' for none). Returns false when the index is not a hash of ours: the entry is then not remembered.
local function record (shard, key, stored, expires, last, bytes, count, reset, url, now, keep)
  local ok, old = pcall(redis.call, 'HGET', shard, key)
  if not ok then return false end
  local h, m, t, known = kept(old)
  if not reset and known ~= '' then url = known end
  if count == 0 then stored, expires, last, bytes, url = 0, 0, 0, 0, '' end
  if write(shard, key, stored, expires, last, bytes, count, h, m, t, url) == 1 then sample(shard, now, keep) end
  return true
end
-- The purge record: token, counter, oldest listed, and 1 when it had to be made anew from something not ours.
local function state (purges, candidate)
  local ok, st = pcall(redis.call, 'HMGET', purges, 't', 'n', 'o')
  if ok and st[1] and tonumber(st[2]) and tonumber(st[3]) then return st[1], tonumber(st[2]), tonumber(st[3]), 0 end
  local foreign = 0
  if not ok or st[1] or st[2] or st[3] then foreign = 1 end
  redis.call('DEL', purges)
  redis.call('HSET', purges, 't', candidate, 'n', 0, 'o', 1)
  return candidate, 0, 1, foreign
end
local function note (purges, candidate, entry)
  -- A write that frees nothing but lets the rest of the script write on a Redis at maxmemory: purges must work there.
  pcall(redis.call, 'HDEL', purges, '-')
  local _, n, o, foreign = state(purges, candidate)
  n = n + 1
  redis.call('HSET', purges, 'n', n, tostring(n), entry)
  if n - o >= ${PURGE_LOG} then
    redis.call('HDEL', purges, tostring(o))
    redis.call('HSET', purges, 'o', o + 1)
  end
  return foreign
end
-- Whether a glob (* = any run of characters) matches all of text: greedy leftmost search of the literal pieces,
-- linear in the text, no backtracking.
local function glob (pattern, text)
  local pieces, at = {}, 1
  while true do
    local star = string.find(pattern, '*', at, true)
    if star == nil then pieces[#pieces + 1] = string.sub(pattern, at) break end
    pieces[#pieces + 1] = string.sub(pattern, at, star - 1)
    at = star + 1
  end
  if #pieces == 1 then return pattern == text end
  local first, last = pieces[1], pieces[#pieces]
  if #first + #last > #text or string.sub(text, 1, #first) ~= first then return false end
  if last ~= '' and string.sub(text, #text - #last + 1) ~= last then return false end
  local pos, limit = #first + 1, #text - #last
  for i = 2, #pieces - 1 do
    local piece = pieces[i]
    if piece ~= '' then
      local s, e = string.find(text, piece, pos, true)
      if s == nil or e > limit then return false end
      pos = e + 1
    end
  end
  return true
end
-- Whether a purge since the epoch (token, seq) covers this key, URL (false: none) or one of the tags.
local function refused (purges, token, seq, key, url, tags)
  local ok, st = pcall(redis.call, 'HMGET', purges, 't', 'n', 'o')
  if not ok or st[1] ~= token then return true end
  local n, o, from = tonumber(st[2]), tonumber(st[3]), tonumber(seq)
  if n == nil or o == nil or from == nil or from > n then return true end
  if from + 1 < o then return true end
  for first = from + 1, n, 500 do
    local fields = {}
    for i = first, math.min(first + 499, n) do fields[#fields + 1] = tostring(i) end
    local listed = redis.call('HMGET', purges, unpack(fields))
    for _, entry in ipairs(listed) do
      if not entry then return true end
      local kind, value = string.sub(entry, 1, 1), string.sub(entry, 3)
      if kind == 'k' and value == key then return true end
      if kind == 't' and tags[value] then return true end
      if kind == 'p' and url and glob(value, url) then return true end
    end
  end
  return false
end
`

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
redis.call('HSET', group, 'f', '2', 'v', ARGV[6], '=' .. variant, ARGV[4], 'm:' .. variant, ARGV[5])
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
redis.call('HSET', group, 's', s, 'x', x, 'u', u, 'b', b, 't', tagged)
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
if not ok or head[1] ~= ARGV[2] then return 0 end
local _, _, _, vb = parse(head[1])
redis.call('HDEL', group, '=' .. variant, 'm:' .. variant)
redis.call('ZREM', order, variant)
local count = redis.call('ZCARD', order)
local b = (tonumber(head[2]) or 0) - vb
if count == 0 then redis.call('DEL', group, order) else redis.call('HSET', group, 'b', b) end
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
      local s, e, su, b = parse(times[i])
      if s and su > now then
        local ne = math.min(e, now)
        local nu = now + math.max(grace, su - e)
        redis.call('HSET', group, fields[i], string.format('%d %d %d %d 1', s, ne, nu, b))
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
