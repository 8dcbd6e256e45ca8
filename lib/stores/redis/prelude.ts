/**
 * The Lua functions the Redis store's scripts share, and the layout they read and write. Each script touches the
 * keys of one shard (one hash tag, so one Cluster slot), plus, without a Cluster only, the purge record and the tag
 * sets, which is what makes a set atomic against purges.
 *
 * A group hash holds `f` (the format, '2'), `v` (the vary list, comma-separated), `t` (its tags, newline-separated),
 * `c` (a counter ordering its variants), `s x u b` (newest storedAt, latest expiresAt and staleUntil, total bytes),
 * `n` (how many variants it holds), and per variant `=<variant>` (the encoded response) and `m:<variant>`
 * ("storedAt expiresAt staleUntil bytes soft seq", seq being its score in the order set).
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

/** Lua functions every script that needs them starts with: parsing, index records, the purge record, glob matching. */
export const PRELUDE = `
local function errorText (err)
  if type(err) == 'table' then return tostring(err.err) end
  return tostring(err)
end
-- A variant's "storedAt expiresAt staleUntil bytes soft [seq]" (seq: its place in the group's order, once stored).
local function parse (info)
  if type(info) ~= 'string' then return nil end
  local s, e, u, b, soft, q = string.match(info, '^(%d+) (%d+) (%d+) (%d+) ([01]) (%d+)$')
  if s == nil then
    s, e, u, b, soft = string.match(info, '^(%d+) (%d+) (%d+) (%d+) ([01])$')
    if s == nil then return nil end
  end
  return tonumber(s), tonumber(e), tonumber(u), tonumber(b), soft, tonumber(q) or 0
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
