// The prelude of every per-resource script (acquire, release, renew, leave, revoke,
// set-resource, inspect): it names the 8 keys of one resource (KEYS[1..8], the order of
// resourceKeyList() in src/backends/redis/keys.ts), reads the Redis server clock once (`now`:
// every expiry and deadline is server time, client clocks never matter) and defines the helpers
// the scripts share:
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
//   nextFence(kFence, kMeta)  the next fencing token (./fence.ts)
import { BACKEND_MAX_PRIORITY } from '../../contract';
import { FENCE_LUA } from './fence';
import { POOL_EPOCH_LUA } from './pool-epoch';

/** Highest priority a waiter may have; scores are (PRIORITY_MAX - priority) * SEQ_SPAN + seq. */
export const PRIORITY_MAX = BACKEND_MAX_PRIORITY;
/** 2^32: room for 4 billion enqueues per resource; PRIORITY_MAX * SEQ_SPAN < 2^53 stays exact. */
export const SEQ_SPAN = 4_294_967_296;

export const RESOURCE_PRELUDE = `
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
local function num(x) return string.format('%.0f', x) end

${FENCE_LUA}
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
  redis.call('HINCRBY', K_META, 'declared', -info.u)
  redis.call('ZADD', K_ENDED, num(now), token)
  kickPool()
end

local function removeWaiter(id, info)
  redis.call('ZREM', K_WAIT, id)
  redis.call('HDEL', K_WINFO, id)
  redis.call('ZREM', K_WEXP, id)
  if info and info.g and info.g ~= '' then redis.call('HINCRBY', K_META, 'qg:' .. info.g, -1) end
end

-- Expired holders (their process stopped renewing) and waiters whose heartbeat or deadline
-- passed. Bounded per call; the rest go on the next call.
local function prune()
  local n = 0
  local dead = redis.call('ZRANGEBYSCORE', K_HEXP, '-inf', num(now), 'LIMIT', 0, 64)
  for _, token in ipairs(dead) do
    local raw = redis.call('HGET', K_HOLD, token)
    if raw then
      local info = cjson.decode(raw)
      endHolder(token, info)
      publish(info.c, 'l|' .. token .. '|expired')
    else
      redis.call('ZREM', K_HEXP, token)
    end
    n = n + 1
  end
  local gone = redis.call('ZRANGEBYSCORE', K_WEXP, '-inf', num(now), 'LIMIT', 0, 64)
  for _, id in ipairs(gone) do
    local raw = redis.call('HGET', K_WINFO, id)
    removeWaiter(id, raw and cjson.decode(raw) or nil)
    n = n + 1
  end
  return n
end

local function free()
  local m = redis.call('HMGET', K_META, 'capacity', 'external', 'declared', 'closed')
  if not m[1] or m[4] == '1' or poolHeld() then return 0 end
  return tonumber(m[1]) - tonumber(m[2] or '0') - tonumber(m[3] or '0')
end

-- A grant handed to a waiter of another call (handoff) is provisional: it expires after the
-- waiter's heartbeat TTL unless its owner confirms it (RENEW on receipt, or its next ACQUIRE
-- poll). A waiter that died just before the handoff then blocks the resource no longer than
-- its heartbeat would have, not a whole lease TTL.
local function grant(id, info, provisional)
  local fence = nextFence(K_FENCE, K_META)
  local ttl = info.ttl
  if provisional and info.wt and info.wt < ttl then ttl = info.wt end
  local exp = now + ttl
  -- fence as a string: cjson (and Lua's tostring) print numbers with 14 digits only.
  redis.call('HSET', K_HOLD, id, cjson.encode({ u = info.u, f = num(fence), at = now, w = now - info.at,
    h = info.h, c = info.c, p = info.p }))
  redis.call('ZADD', K_HEXP, num(exp), id)
  redis.call('HINCRBY', K_META, 'declared', info.u)
  return fence, exp
end

-- Grants the head waiter(s) that fit now, in strict order (no backfill past a head that does
-- not fit), and publishes each grant on its owner's channel: the next holder learns in one
-- message, with no round trip of its own. Returns the grant of selfId when it is one of them.
local function grantFitting(selfId)
  local avail = free()
  local mine = nil
  local granted = false
  while avail > 0 do
    local head = redis.call('ZRANGE', K_WAIT, 0, 0)
    if #head == 0 then break end
    local id = head[1]
    local raw = redis.call('HGET', K_WINFO, id)
    if not raw then
      redis.call('ZREM', K_WAIT, id)
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
    -- The new head waiter re-checks when the first lease now held runs out (a provisional
    -- grant to a dead waiter expires silently): tell it when.
    local head = redis.call('ZRANGE', K_WAIT, 0, 0)
    if #head == 1 and head[1] ~= selfId then
      local raw = redis.call('HGET', K_WINFO, head[1])
      local e = redis.call('ZRANGE', K_HEXP, 0, 0, 'WITHSCORES')
      if raw and #e == 2 then
        publish(cjson.decode(raw).c, 'e|' .. head[1] .. '|' .. num(math.max(0, tonumber(e[2]) - now)))
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

local function usage()
  local m = redis.call('HMGET', K_META, 'capacity', 'external', 'declared', 'closed')
  local n = redis.call('ZCARD', K_WAIT)
  local hp = -1
  if n > 0 then
    local h = redis.call('ZRANGE', K_WAIT, 0, 0, 'WITHSCORES')
    hp = PMAX - math.floor(tonumber(h[2]) / SPAN)
  end
  local out = { tonumber(m[1] or '-1'), tonumber(m[2] or '0'), tonumber(m[3] or '0'), m[4] == '1' and 1 or 0, n, hp }
  if K_PMETA then
    out[7] = redis.call('HGET', K_PMETA, 'epoch') or ''
    if m[1] then
      local e = redis.call('ZRANGE', K_HEXP, 0, 0, 'WITHSCORES')
      redis.call('HSET', K_PHINTS, RES, table.concat({ m[1], m[2] or '0', m[3] or '0', out[4], n, e[2] or '-1' }, '|'))
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
