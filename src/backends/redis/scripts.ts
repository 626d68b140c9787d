// The Lua scripts. Every state change of the Redis backend is exactly one of these (atomic on
// the server), and each reads the Redis server clock (TIME) for every expiry and deadline, so
// client clocks never matter. They are kept as string constants (not .lua files) so the same
// code runs from src/ under vitest and from dist/ after tsc with nothing to copy.
//
// Per-resource scripts take the 8 keys of `resourceKeyList()` (one hash tag). Replies end with
// the resource's usage tuple: {capacity, external, declared, closed, waiting, headPriority}.
import { createHash } from 'node:crypto';

/** Highest priority a waiter may have; scores are (PRIORITY_MAX - priority) * SEQ_SPAN + seq. */
export const PRIORITY_MAX = 1_000_000;
/** 2^32: room for 4 billion enqueues per resource; PRIORITY_MAX * SEQ_SPAN < 2^53 stays exact. */
export const SEQ_SPAN = 4_294_967_296;
/** How long a release tombstone is kept (ms), and how many at most. */
export const TOMBSTONE_KEEP_MS = 3_600_000;
export const TOMBSTONE_MAX = 10_000;

const PRELUDE = `
local K_META, K_HOLD, K_HEXP, K_WAIT, K_WINFO, K_WEXP, K_FENCE, K_ENDED =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local PMAX, SPAN = ${PRIORITY_MAX}, ${SEQ_SPAN}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function num(x) return string.format('%.0f', x) end

local function publish(ch, msg)
  if ch and ch ~= '' then redis.call('PUBLISH', ch, msg) end
end

local function endHolder(token, info)
  redis.call('HDEL', K_HOLD, token)
  redis.call('ZREM', K_HEXP, token)
  redis.call('HINCRBY', K_META, 'declared', -info.u)
  redis.call('ZADD', K_ENDED, num(now), token)
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
  if not m[1] or m[4] == '1' then return 0 end
  return tonumber(m[1]) - tonumber(m[2] or '0') - tonumber(m[3] or '0')
end

-- A grant handed to a waiter of another call (handoff) is provisional: it expires after the
-- waiter's heartbeat TTL unless its owner confirms it (RENEW on receipt, or its next ACQUIRE
-- poll). A waiter that died just before the handoff then blocks the resource no longer than
-- its heartbeat would have, not a whole lease TTL.
local function grant(id, info, provisional)
  local fence = redis.call('INCR', K_FENCE)
  if fence == 1 then
    -- A new (or lost: Redis restarted without persistence) counter starts at server ms * 1000,
    -- so fencing tokens keep increasing across a data loss unless the old counter averaged
    -- more than 1000 grants per ms.
    fence = now * 1000
    redis.call('SET', K_FENCE, num(fence))
  end
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

local function usage()
  local m = redis.call('HMGET', K_META, 'capacity', 'external', 'declared', 'closed')
  local n = redis.call('ZCARD', K_WAIT)
  local hp = -1
  if n > 0 then
    local h = redis.call('ZRANGE', K_WAIT, 0, 0, 'WITHSCORES')
    hp = PMAX - math.floor(tonumber(h[2]) / SPAN)
  end
  return { tonumber(m[1] or '-1'), tonumber(m[2] or '0'), tonumber(m[3] or '0'), m[4] == '1' and 1 or 0, n, hp }
end

-- ms until the earliest holder lease expires (-1: none): a waiter re-checks then, because an
-- expiry publishes nothing (the dead holder cannot).
local function nextExpiry()
  local e = redis.call('ZRANGE', K_HEXP, 0, 0, 'WITHSCORES')
  if #e == 0 then return -1 end
  return math.max(0, tonumber(e[2]) - now)
end
`;

/**
 * ACQUIRE (also the waiter's heartbeat and the safety-net poll: idempotent per id).
 * ARGV: id, units, priority, leaseTtlMs, waiterTtlMs, timeoutMs (-1 none), holderJson,
 *       channel, queueLimit (0 none), tryOnly ('1': never enqueue), queueGroup ('' none)
 * Reply: {'granted', fence, grantedAt, remainingMs, waitedMs, usage}
 *      | {'queued', position, nextExpiryMs, usage} | {'nores'|'nofit'|'closed'|'busy'|'full', usage}
 */
export const ACQUIRE = `${PRELUDE}
local id, units, prio = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local leaseTtl, waiterTtl, timeout = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local holder, channel, qlimit, tryOnly, group = ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10] == '1', ARGV[11]
if prune() > 0 then grantFitting(nil) end
local m = redis.call('HMGET', K_META, 'capacity', 'external', 'declared', 'closed')
local cap = m[1]
if not cap then return { 'nores', usage() } end
local held = redis.call('HGET', K_HOLD, id)
if held then
  -- Granted by a handoff; the owner polling for it confirms it: full lease TTL from now.
  local h = cjson.decode(held)
  redis.call('ZADD', K_HEXP, num(now + leaseTtl), id)
  return { 'granted', h.f, h.at, leaseTtl, h.w, usage() }
end
if units > tonumber(cap) then return { 'nofit', usage() } end
local raw = redis.call('HGET', K_WINFO, id)
if raw then
  local info = cjson.decode(raw)
  local e = now + waiterTtl
  if info.dl > 0 and info.dl < e then e = info.dl end
  redis.call('ZADD', K_WEXP, num(e), id)
else
  if m[4] == '1' then return { 'closed', usage() } end
  local seq = redis.call('HINCRBY', K_META, 'seq', 1) % SPAN
  local score = (PMAX - prio) * SPAN + seq
  local info = { u = units, p = prio, at = now, dl = 0, h = holder, c = channel, ttl = leaseTtl, wt = waiterTtl, g = group }
  -- Fast path: it fits now and nobody of this priority or higher waits (m was read after prune).
  local avail = tonumber(cap) - tonumber(m[2] or '0') - tonumber(m[3] or '0')
  if units <= avail and redis.call('ZCOUNT', K_WAIT, '-inf', '(' .. num(score)) == 0 then
    local fence, exp = grant(id, info)
    return { 'granted', fence, now, exp - now, 0, usage() }
  end
  if tryOnly then return { 'busy', usage() } end
  if qlimit > 0 then
    local n
    if group ~= '' then n = tonumber(redis.call('HGET', K_META, 'qg:' .. group) or '0')
    else n = redis.call('ZCARD', K_WAIT) end
    if n >= qlimit then return { 'full', usage() } end
  end
  if timeout >= 0 then info.dl = now + timeout end
  local e = now + waiterTtl
  if info.dl > 0 and info.dl < e then e = info.dl end
  redis.call('HSET', K_WINFO, id, cjson.encode(info))
  redis.call('ZADD', K_WAIT, num(score), id)
  redis.call('ZADD', K_WEXP, num(e), id)
  if group ~= '' then redis.call('HINCRBY', K_META, 'qg:' .. group, 1) end
end
local mine = grantFitting(id)
if mine then return { 'granted', mine[1], mine[2], mine[3] - now, mine[4], usage() } end
local rank = redis.call('ZRANK', K_WAIT, id)
if not rank then return { 'busy', usage() } end
return { 'queued', rank, nextExpiry(), usage() }
`;

/**
 * RELEASE: owner-checked by token. A token that ended (released, expired, revoked) within the
 * tombstone window is 'already-released'; any other is refused and counted in meta.violations.
 * ARGV: token, mayBeGone ('1': the caller's own lease was already lost, e.g. Redis restarted
 * without its data - an unknown token is then 'already-released', not a violation). Reply: {'released'|'already-released'|'not-owner', usage}
 */
export const RELEASE = `${PRELUDE}
local token = ARGV[1]
prune()
local raw = redis.call('HGET', K_HOLD, token)
local out
if raw then
  endHolder(token, cjson.decode(raw))
  -- Tombstones are trimmed now and then (about one release in 16), by age and by count.
  if now % 16 == 0 then
    redis.call('ZREMRANGEBYSCORE', K_ENDED, '-inf', num(now - ${TOMBSTONE_KEEP_MS}))
    redis.call('ZREMRANGEBYRANK', K_ENDED, 0, -${TOMBSTONE_MAX + 1})
  end
  out = 'released'
elseif redis.call('ZSCORE', K_ENDED, token) or ARGV[2] == '1' then
  out = 'already-released'
else
  redis.call('HINCRBY', K_META, 'violations', 1)
  out = 'not-owner'
end
grantFitting(nil)
return { out, usage() }
`;

/**
 * RENEW: extends each listed holder's lease to now + ttl. ARGV: ttlMs, token...
 * Reply: {{1|0 per token (0: the lease is gone)}, usage}
 */
export const RENEW = `${PRELUDE}
local ttl = tonumber(ARGV[1])
if prune() > 0 then grantFitting(nil) end
local out = {}
for i = 2, #ARGV do
  if redis.call('HEXISTS', K_HOLD, ARGV[i]) == 1 then
    redis.call('ZADD', K_HEXP, num(now + ttl), ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return { out, usage() }
`;

/**
 * LEAVE: a waiter gives up (abort, deadline, close). If a release granted it meanwhile, the
 * grant is released instead, so nothing is left behind either way. ARGV: id
 * Reply: {'left'|'released'|'gone', usage}
 */
export const LEAVE = `${PRELUDE}
local id = ARGV[1]
prune()
local out = 'gone'
local raw = redis.call('HGET', K_WINFO, id)
if raw or redis.call('ZSCORE', K_WAIT, id) then
  removeWaiter(id, raw and cjson.decode(raw) or nil)
  out = 'left'
else
  local held = redis.call('HGET', K_HOLD, id)
  if held then
    endHolder(id, cjson.decode(held))
    out = 'released'
  end
end
grantFitting(nil)
return { out, usage() }
`;

/**
 * REVOKE: an admin takes a lease away; its owner is told on its channel. ARGV: token, reason
 * Reply: {'revoked'|'not-found', usage}
 */
export const REVOKE = `${PRELUDE}
local token, reason = ARGV[1], ARGV[2]
prune()
local raw = redis.call('HGET', K_HOLD, token)
local out = 'not-found'
if raw then
  local info = cjson.decode(raw)
  endHolder(token, info)
  publish(info.c, 'l|' .. token .. '|revoked:' .. reason)
  out = 'revoked'
end
grantFitting(nil)
return { out, usage() }
`;

/**
 * SET_RESOURCE: capacity, external (units used outside the ledger), closed. Waiters that can
 * never fit the new capacity are removed and told ('x' message). ARGV: capacity, external, closed
 * Reply: usage
 */
export const SET_RESOURCE = `${PRELUDE}
local cap = tonumber(ARGV[1])
redis.call('HSET', K_META, 'capacity', ARGV[1], 'external', ARGV[2], 'closed', ARGV[3])
prune()
local all = redis.call('ZRANGE', K_WAIT, 0, -1)
for _, id in ipairs(all) do
  local raw = redis.call('HGET', K_WINFO, id)
  if raw then
    local info = cjson.decode(raw)
    if info.u > cap then
      removeWaiter(id, info)
      publish(info.c, 'x|' .. id .. '|nofit')
    end
  end
end
grantFitting(nil)
return usage()
`;

/**
 * INSPECT: prunes, then returns everything about one resource.
 * Reply: {usage, {token, holderJson, expiresAt}..., {id, waiterJson, score}..., violations, now}
 */
export const INSPECT = `${PRELUDE}
if prune() > 0 then grantFitting(nil) end
local holders = {}
local h = redis.call('HGETALL', K_HOLD)
for i = 1, #h, 2 do
  holders[#holders + 1] = { h[i], h[i + 1], tonumber(redis.call('ZSCORE', K_HEXP, h[i]) or '0') }
end
local waiters = {}
local w = redis.call('ZRANGE', K_WAIT, 0, -1, 'WITHSCORES')
for i = 1, #w, 2 do
  waiters[#waiters + 1] = { w[i], redis.call('HGET', K_WINFO, w[i]) or '{}', w[i + 1] }
end
return { usage(), holders, waiters, tonumber(redis.call('HGET', K_META, 'violations') or '0'), now }
`;

const NODE_PRELUDE = `
local K_NODES, K_NODEINFO = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function num(x) return string.format('%.0f', x) end
local function pruneNodes()
  local dead = redis.call('ZRANGEBYSCORE', K_NODES, '-inf', num(now))
  for _, id in ipairs(dead) do
    redis.call('ZREM', K_NODES, id)
    redis.call('HDEL', K_NODEINFO, id)
  end
end
`;

/** NODE_REGISTER: ARGV nodeId, ttlMs, recordJson. Reply: server now (ms). */
export const NODE_REGISTER = `${NODE_PRELUDE}
pruneNodes()
redis.call('ZADD', K_NODES, num(now + tonumber(ARGV[2])), ARGV[1])
redis.call('HSET', K_NODEINFO, ARGV[1], ARGV[3])
return now
`;

/** NODE_UNREGISTER: ARGV nodeId. Reply: 1 when it was registered. */
export const NODE_UNREGISTER = `${NODE_PRELUDE}
redis.call('HDEL', K_NODEINFO, ARGV[1])
return redis.call('ZREM', K_NODES, ARGV[1])
`;

/** NODE_LIST: prunes nodes whose heartbeat lapsed. Reply: {now, {id, recordJson, expiresAt}...} */
export const NODE_LIST = `${NODE_PRELUDE}
pruneNodes()
local out = {}
local ids = redis.call('ZRANGE', K_NODES, 0, -1, 'WITHSCORES')
for i = 1, #ids, 2 do
  out[#out + 1] = { ids[i], redis.call('HGET', K_NODEINFO, ids[i]) or '{}', tonumber(ids[i + 1]) }
end
return { now, out }
`;

/** NS_ADD_RESOURCE: KEYS[1] the namespace's resource set; ARGV resource. Reply: 1 when new. */
export const NS_ADD_RESOURCE = `return redis.call('SADD', KEYS[1], ARGV[1])`;

/** A script with its SHA1, computed here so EVALSHA can be tried first without SCRIPT LOAD. */
export interface LuaScript {
  name: string;
  source: string;
  sha: string;
}

function script(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

export const SCRIPTS = {
  acquire: script('acquire', ACQUIRE),
  release: script('release', RELEASE),
  renew: script('renew', RENEW),
  leave: script('leave', LEAVE),
  revoke: script('revoke', REVOKE),
  setResource: script('setResource', SET_RESOURCE),
  inspect: script('inspect', INSPECT),
  nodeRegister: script('nodeRegister', NODE_REGISTER),
  nodeUnregister: script('nodeUnregister', NODE_UNREGISTER),
  nodeList: script('nodeList', NODE_LIST),
  nsAddResource: script('nsAddResource', NS_ADD_RESOURCE),
} as const;

export type ScriptName = keyof typeof SCRIPTS;
