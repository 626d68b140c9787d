// The prelude of every per-resource script (acquire, release, renew, leave, revoke,
// set-resource, inspect): it names the 8 keys of one resource (KEYS[1..8], the order of
// resourceKeyList() in src/backends/redis/keys.ts), reads the Redis server clock once (`now`:
// every expiry and deadline is server time, client clocks never matter) and defines the helpers
// the scripts share. PRELUDE_CORE (what an uncontended acquire or release needs; ACQUIRE and
// RELEASE run their fast path right after it, before PRELUDE_REST is defined):
//   meta(), waiting()         the resource's meta {cap, ext, decl, closed} and queue length, read
//                             once per script; addDeclared(u) and queueChanged(delta) keep them current
//   holdLease(...)            records a lease: fencing token, holder record, expiry, units
//   holderUC(raw)             a holder record's units and channel without decoding it whole
//   nextFence(kFence, kMeta)  the next fencing token (./fence.ts)
// PRELUDE_REST:
//   publish(ch, msg)          PUBLISH on a wake-up channel (src/backends/redis/subscriber.ts parses it)
//   endHolder(token, info)    ends a lease and leaves a tombstone in `ended`
//   removeWaiter(id, info)    takes a waiter out of the queue (and its queue group count)
//   prune()                   expired holders (told 'l|token|expired') and lapsed waiters; bounded
//   free()                    units grantable now (0 when closed or unknown)
//   grant(id, info, prov)     one grant: fencing token, holder record, lease expiry
//   grantFitting(selfId)      grants the head waiters that fit, in strict order, and publishes each
//                             (a set member at the head stops it: ACQUIRE_SET grants sets)
//   dataLost(fence)           Redis lost this resource's data since a lease with that fencing token
//                             was granted (its settings or fencing counter are gone, or reseeded)
//   usage()                   the usage tuple every reply ends with:
//                             {capacity (-1: unknown resource), external, declared, closed (1|0),
//                              waiting, headPriority (-1: none)}
//   nextExpiry()              ms until the first holder lease expires, or the pool's hold ends (-1: none)
// A pool GPU (a grouped resource: a node's `<nodeId>/gpu<i>`) also gets the pool's 7 keys after
// its own (KEYS[#KEYS-6 ..], poolKeyList() in src/backends/redis/keys.ts; so #KEYS % 8 == 7);
// usage() then also writes the GPU's placement hint (pool:hints, ./pool-prelude.ts):
//   kickPool()                wakes the owner of the cluster queue's head ('e|id|0'): units
//                             were freed, its POOL_ACQUIRE places what fits (./pool-acquire.ts)
//   poolEpoch(known, holdMs)  the pool's epoch, and poolHeld(): grants wait after a data loss
//                             (./pool-epoch.ts); free() is 0 on every pool GPU while held
// The fast paths are off the pool only (they skip poolEpoch, poolHeld and the hints).
import { BACKEND_MAX_PRIORITY } from '../../contract';
import { FENCE_LUA } from './fence';
import { POOL_EPOCH_LUA } from './pool-epoch';

/** Highest priority a waiter may have; scores are (PRIORITY_MAX - priority) * SEQ_SPAN + seq. */
export const PRIORITY_MAX = BACKEND_MAX_PRIORITY;
/** 2^32: room for 4 billion enqueues per resource; PRIORITY_MAX * SEQ_SPAN < 2^53 stays exact. */
export const SEQ_SPAN = 4_294_967_296;

// The prelude comes in two parts: PRELUDE_CORE (keys, clock, the per-script caches, fencing and
// the holder record: what an uncontended acquire or release needs) and PRELUDE_REST (the other
// helpers). ACQUIRE and RELEASE run their fast path between the two, so an uncontended call
// never creates the closures of the rest (each one costs Redis time on every call).
export const PRELUDE_CORE = `
local K_META, K_HOLD, K_HEXP, K_WAIT, K_WINFO, K_WEXP, K_FENCE, K_ENDED =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local PMAX, SPAN = ${PRIORITY_MAX}, ${SEQ_SPAN}
local K_PWAIT, K_PWINFO, K_PMETA, K_PHINTS, RES
if #KEYS % 8 == 7 then
  K_PWAIT, K_PWINFO, K_PMETA, K_PHINTS = KEYS[#KEYS - 4], KEYS[#KEYS - 3], KEYS[#KEYS - 1], KEYS[#KEYS]
  -- This GPU's name: its meta key is <pool prefix><resource>:meta (src/backends/redis/keys.ts).
  RES = string.sub(K_META, #KEYS[#KEYS - 6] - 4, -6)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Integers only (every time, expiry, score and fencing token here is one, below 2^53): '%d'
-- formats a 64-bit integer several times faster than '%.0f' does a double.
local function num(x) return string.format('%d', x) end

-- What a script reads of a resource more than once is read once per script and kept here
-- (scripts over several resources, ./acquire-set.ts, switch the K_* names, so each cache is keyed
-- by its key): MC[K_META] = {cap (nil: unknown resource), ext, decl, closed}, kept current by
-- addDeclared(); NW[K_WAIT] = the number of waiters, kept current by queueChanged(delta) after
-- every ZADD/ZREM of the queue. A script that writes capacity, external or closed drops MC[K_META].
local MC, NW = {}, {}
local function meta()
  local c = MC[K_META]
  if not c then
    local m = redis.call('HMGET', K_META, 'capacity', 'external', 'declared', 'closed')
    c = { cap = tonumber(m[1] or ''), ext = tonumber(m[2] or '0'), decl = tonumber(m[3] or '0'), closed = m[4] == '1' }
    MC[K_META] = c
  end
  return c
end
local function addDeclared(u)
  local d = redis.call('HINCRBY', K_META, 'declared', u)
  local c = MC[K_META]
  if c then c.decl = d end
end
local function waiting()
  local n = NW[K_WAIT]
  if not n then
    n = redis.call('ZCARD', K_WAIT)
    NW[K_WAIT] = n
  end
  return n
end
local function queueChanged(delta)
  local n = NW[K_WAIT]
  if n then NW[K_WAIT] = n + delta end
end
${FENCE_LUA}
-- A holder record's units and channel, read straight from its JSON (every '"' inside a JSON
-- string is escaped, so '"u":' and '"c":"' match only the record's own fields); decoded whole
-- when the channel holds an escape. What endHolder() and a release need, without cjson.
local function holderUC(raw)
  local u, c = tonumber(string.match(raw, '"u":(%d+)')), string.match(raw, '"c":"([^"\\\\]*)"')
  if u and c then return { u = u, c = c } end
  return cjson.decode(raw)
end

-- Records a lease: its fencing token, holder record (shown by INSPECT), expiry and units.
-- Numbers go to redis.call as numbers: Redis writes integers below 2^53 exactly, faster than
-- string.format; the fence goes in the record as a string (cjson writes 14 digits only).
-- The record is JSON {u, f, at, w, h, c, p}; \`tail\` ('"h":<JSON string>,"c":<JSON string>,"p":<n>}',
-- made by the client: recordTail() in src/backends/redis/waiters.ts) saves a cjson.encode.
local function holdLease(id, u, h, c, p, waited, ttl, tail)
  local fence = nextFence(K_FENCE, K_META)
  local exp = now + ttl
  local rec
  if tail and tail ~= '' then
    rec = '{"u":' .. num(u) .. ',"f":"' .. num(fence) .. '","at":' .. num(now) .. ',"w":' .. num(waited) .. ',' .. tail
  else
    rec = cjson.encode({ u = u, f = num(fence), at = now, w = waited, h = h, c = c, p = p })
  end
  redis.call('HSET', K_HOLD, id, rec)
  redis.call('ZADD', K_HEXP, exp, id)
  addDeclared(u)
  return fence, exp
end
`;

export const PRELUDE_REST = `
local function publish(ch, msg)
  if ch and ch ~= '' then redis.call('PUBLISH', ch, msg) end
end

local function kickPool()
  if not K_PWAIT then return end
  local head = redis.call('ZRANGE', K_PWAIT, 0, 0)
  if #head == 0 then return end
  local raw = redis.call('HGET', K_PWINFO, head[1])
  if raw then publish(cjson.decode(raw).c, 'e|' .. head[1] .. '|0') end
end

${POOL_EPOCH_LUA}
local function endHolder(token, info)
  redis.call('HDEL', K_HOLD, token)
  redis.call('ZREM', K_HEXP, token)
  addDeclared(-info.u)
  redis.call('ZADD', K_ENDED, now, token)
  kickPool()
end

local function removeWaiter(id, info)
  queueChanged(-redis.call('ZREM', K_WAIT, id))
  redis.call('HDEL', K_WINFO, id)
  redis.call('ZREM', K_WEXP, id)
  if info and info.g and info.g ~= '' then redis.call('HINCRBY', K_META, 'qg:' .. info.g, -1) end
end

-- Expired holders (their process stopped renewing) and waiters whose heartbeat or deadline
-- passed. Bounded per call; the rest go on the next call. An empty queue is not scanned: every
-- waiter is in the queue and in waiterExpiry together (removeWaiter() takes it out of both).
local function prune()
  local n = 0
  local dead = redis.call('ZRANGEBYSCORE', K_HEXP, '-inf', now, 'LIMIT', 0, 64)
  for _, token in ipairs(dead) do
    local raw = redis.call('HGET', K_HOLD, token)
    if raw then
      local info = holderUC(raw)
      endHolder(token, info)
      publish(info.c, 'l|' .. token .. '|expired')
    else
      redis.call('ZREM', K_HEXP, token)
    end
    n = n + 1
  end
  if waiting() == 0 then return n end
  local gone = redis.call('ZRANGEBYSCORE', K_WEXP, '-inf', now, 'LIMIT', 0, 64)
  for _, id in ipairs(gone) do
    local raw = redis.call('HGET', K_WINFO, id)
    removeWaiter(id, raw and cjson.decode(raw) or nil)
    n = n + 1
  end
  return n
end

local function free()
  local m = meta()
  if not m.cap or m.closed or poolHeld() then return 0 end
  return m.cap - m.ext - m.decl
end

-- A grant handed to a waiter of another call (handoff) is provisional: it expires after the
-- waiter's heartbeat TTL unless its owner confirms it (RENEW on receipt, or its next ACQUIRE
-- poll). A waiter that died just before the handoff then blocks the resource no longer than
-- its heartbeat would have, not a whole lease TTL.
local function grant(id, info, provisional)
  local ttl = info.ttl
  if provisional and info.wt and info.wt < ttl then ttl = info.wt end
  return holdLease(id, info.u, info.h, info.c, info.p, now - info.at, ttl, info.t)
end

-- Grants the head waiter(s) that fit now, in strict order (no backfill past a head that does
-- not fit), and publishes each grant on its owner's channel: the next holder learns in one
-- message, with no round trip of its own. Returns the grant of selfId when it is one of them.
local function grantFitting(selfId)
  -- Nobody waits (an uncontended release): nothing to grant, no queue work.
  if waiting() == 0 then return nil end
  local avail = free()
  local mine = nil
  local granted = false
  while avail > 0 do
    local head = redis.call('ZRANGE', K_WAIT, 0, 0)
    if #head == 0 then break end
    local id = head[1]
    local raw = redis.call('HGET', K_WINFO, id)
    if not raw then
      queueChanged(-redis.call('ZREM', K_WAIT, id))
      redis.call('ZREM', K_WEXP, id)
    else
      local info = cjson.decode(raw)
      -- The head is one member of a set (ACQUIRE_SET): it is granted whole by its owner's next
      -- call, never here. Nobody passes it (no backfill); its owner is told to call now.
      if info.sid then
        publish(info.c, 'e|' .. info.sid .. '|0')
        break
      end
      if info.u > avail then break end
      removeWaiter(id, info)
      local fence, exp = grant(id, info, id ~= selfId)
      avail = avail - info.u
      if id == selfId then
        mine = { fence, now, exp, now - info.at }
      else
        publish(info.c, 'g|' .. id .. '|' .. num(fence) .. '|' .. num(now) .. '|' .. num(exp) .. '|' .. num(now - info.at))
      end
      granted = true
    end
  end
  if granted then
    -- The new head waiter re-checks when the first lease now held runs out (a provisional grant
    -- to a dead waiter expires silently). It is told only when that comes before its own
    -- heartbeat lapses: until then it calls anyway (a live waiter renews before its heartbeat
    -- lapses), learns the expiry in that reply and re-checks then (src/backends/redis/waiters.ts).
    -- With equal TTLs a handoff so costs one PUBLISH, not two wake-ups.
    local head = redis.call('ZRANGE', K_WAIT, 0, 0)
    if #head == 1 and head[1] ~= selfId then
      local e = redis.call('ZRANGE', K_HEXP, 0, 0, 'WITHSCORES')
      local beat = tonumber(redis.call('ZSCORE', K_WEXP, head[1]) or '0')
      if #e == 2 and tonumber(e[2]) < beat then
        local raw = redis.call('HGET', K_WINFO, head[1])
        if raw then publish(cjson.decode(raw).c, 'e|' .. head[1] .. '|' .. num(math.max(0, tonumber(e[2]) - now))) end
      end
    end
  end
  return mine
end

-- True when a lease with fencing token f cannot be here because Redis lost this resource's
-- data since it was granted (restarted without persistence, flushed): the resource's settings
-- are gone, or its fencing counter is (nothing was granted since), or the counter was reseeded
-- above f. A release of such a lease is no ownership violation.
local function dataLost(f)
  local m = redis.call('HMGET', K_META, 'capacity', 'fence0')
  if not m[1] then return true end
  if redis.call('EXISTS', K_FENCE) == 0 then return true end
  return m[2] and f < tonumber(m[2]) or false
end

-- From what the script already read (meta(), waiting()): an uncontended call adds no command.
local function usage()
  local m = meta()
  local n = waiting()
  local hp = -1
  if n > 0 then
    local h = redis.call('ZRANGE', K_WAIT, 0, 0, 'WITHSCORES')
    hp = PMAX - math.floor(tonumber(h[2]) / SPAN)
  end
  local out = { m.cap or -1, m.ext, m.decl, m.closed and 1 or 0, n, hp }
  if K_PMETA then
    out[7] = redis.call('HGET', K_PMETA, 'epoch') or ''
    if m.cap then
      local e = redis.call('ZRANGE', K_HEXP, 0, 0, 'WITHSCORES')
      redis.call('HSET', K_PHINTS, RES, table.concat({ num(m.cap), num(m.ext), num(m.decl), out[4], n, e[2] or '-1' }, '|'))
    else
      redis.call('HDEL', K_PHINTS, RES)
    end
  end
  return out
end

-- ms until the earliest holder lease expires (-1: none): a waiter re-checks then, because an
-- expiry publishes nothing (the dead holder cannot).
local function nextExpiry()
  local e = redis.call('ZRANGE', K_HEXP, 0, 0, 'WITHSCORES')
  local ms = #e == 0 and -1 or math.max(0, tonumber(e[2]) - now)
  if poolHeld() then
    local h = tonumber(redis.call('HGET', K_PMETA, 'hold')) - now
    if ms < 0 or h < ms then ms = h end
  end
  return ms
end
`;

export const RESOURCE_PRELUDE = PRELUDE_CORE + PRELUDE_REST;
