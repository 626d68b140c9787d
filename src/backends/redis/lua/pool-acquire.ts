// The POOL_ACQUIRE script (sent by src/backends/redis/pool-waiters.ts). Its KEYS, ARGV and reply
// are in its Lua header, which is part of the script text.
import { POOL_PRELUDE } from './pool-prelude';

export const POOL_ACQUIRE = `-- POOL_ACQUIRE: a cluster-scope request: units of each of n GPUs of one live node, any node
-- whose labels match, placed by this script over every live node's GPUs (one atomic step).
-- Also the waiter's heartbeat, its poll and the confirmation of a grant made to it by another
-- call: idempotent per id. A request that fits no live node even when all is free: 'nofit'.
-- Queued waiters are granted in order (priority, then arrival; blocked ones keep reservations,
-- see ./pool-prelude.ts) when a call of the head waiter's owner, or a woken one, places them.
-- KEYS: poolKeyList() of src/backends/redis/keys.ts
--   1: nodes  2: nodeInfo  3: waiters  4: waiterInfo  5: waiterExpiry  6: meta  7: hints
-- ARGV:
--   1: id (the lease token on GPU k is id .. '.' .. k)
--   2: units (MiB of each GPU)
--   3: n: GPUs, all of one node
--   4: priority (0..PRIORITY_MAX, higher first)
--   5: leaseTtlMs
--   6: waiterTtlMs
--   7: timeoutMs: ms until the deadline (-1: none)
--   8: holderJson
--   9: channel: the caller's wake-up channel
--  10: tryOnly ('1': grant now or answer 'busy')
--  11: selectorJson: labels a node must have ({} for any)
--  12: mode: 'binpack' | 'spread'
--  13: knownEpoch: the pool epoch this client last saw ('': none; ./pool-epoch.ts)
--  14: placeNow ('1': place the queue even when not the head: the caller was woken)
-- Returns: {'granted', nodeId, nodeRecordJson, grantedAt, remainingMs, waitedMs, now, epoch,
--           resource 1, fence 1, ..., resource n, fence n}
--        | {'queued', position, recheckMs (-1: none; else when the pool's hold ends), now, epoch}
--        | {'ended'}: granted to this id and a lease ended before it was confirmed; ask again
--          under a new id
--        | {'nofit', largestCapacity (-1: no GPU), liveNodes}
--        | {'busy', epoch}
${POOL_PRELUDE}
local id, units, count, prio = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local leaseTtl, waiterTtl, timeout = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local holder, channel, tryOnly, mode, placeNow = ARGV[8], ARGV[9], ARGV[10] == '1', ARGV[12], ARGV[14] == '1'
poolEpoch(ARGV[13], leaseTtl)
prunePool()
local epoch = redis.call('HGET', K_PMETA, 'epoch')

local function granted(w, fences, remaining)
  local out = { 'granted', w.node, redis.call('HGET', K_NODEINFO, w.node) or '{}', w.ga, remaining, w.ga - w.at, now, epoch }
  for k, res in ipairs(w.g) do
    out[#out + 1] = res
    out[#out + 1] = fences[k]
  end
  return out
end

local function recheck()
  if poolHeld() then return tonumber(redis.call('HGET', K_PMETA, 'hold')) - now end
  return -1
end

local raw = redis.call('HGET', K_PWINFO, id)
if raw then
  local w = cjson.decode(raw)
  if w.g then
    -- Granted by an earlier call: confirm every lease for a full TTL, or say one ended.
    local fences = {}
    for k, res in ipairs(w.g) do
      local h = redis.call('HGET', gkey(res, 'holders'), id .. '.' .. k)
      if not h then
        for k2, res2 in ipairs(w.g) do
          local h2 = redis.call('HGET', gkey(res2, 'holders'), id .. '.' .. k2)
          if h2 then endLease(res2, id .. '.' .. k2, cjson.decode(h2), nil) end
        end
        redis.call('HDEL', K_PWINFO, id)
        redis.call('ZREM', K_PWEXP, id)
        return { 'ended' }
      end
      fences[k] = cjson.decode(h).f
      redis.call('ZADD', gkey(res, 'hexp'), num(now + leaseTtl), id .. '.' .. k)
    end
    w.ok = true
    redis.call('HSET', K_PWINFO, id, cjson.encode(w))
    redis.call('ZADD', K_PWEXP, num(now + leaseTtl), id)
    return granted(w, fences, leaseTtl)
  end
  -- Queued: the heartbeat. The head's owner (or a woken caller) places the queue.
  local e = now + waiterTtl
  if w.dl > 0 and w.dl < e then e = w.dl end
  redis.call('ZADD', K_PWEXP, num(e), id)
  local rank = redis.call('ZRANK', K_PWAIT, id)
  if placeNow or rank == 0 then
    local mine = poolGrant(id, liveNodes())
    if mine then return granted(cjson.decode(redis.call('HGET', K_PWINFO, id)), mine.fences, mine.exp - now) end
    rank = redis.call('ZRANK', K_PWAIT, id)
  end
  if not rank then return { 'ended' } end
  return { 'queued', rank, recheck(), now, epoch }
end

local w = { u = units, n = count, p = prio, at = now, dl = 0, h = holder, c = channel, ttl = leaseTtl, wt = waiterTtl,
  sel = cjson.decode(ARGV[11]), m = mode }
local nodes = liveNodes()
local fits, largest = couldFit(w, nodes)
if not fits then return { 'nofit', largest, #nodes } end
if timeout >= 0 then w.dl = now + timeout end
local seq = redis.call('HINCRBY', K_PMETA, 'seq', 1) % SPAN
local score = (PMAX - prio) * SPAN + seq
-- Fast path: nobody of this priority or higher waits, and it fits now.
if not poolHeld() and redis.call('ZCOUNT', K_PWAIT, '-inf', '(' .. num(score)) == 0 then
  local pick = verify(w, nodes, {})
  if pick then
    local fences, exp = grantOn(id, w, pick, false)
    w.ok = true
    keepGranted(id, w, pick, exp)
    return granted(w, fences, exp - now)
  end
end
if tryOnly then return { 'busy', epoch } end
local e = now + waiterTtl
if w.dl > 0 and w.dl < e then e = w.dl end
redis.call('HSET', K_PWINFO, id, cjson.encode(w))
redis.call('ZADD', K_PWAIT, num(score), id)
redis.call('ZADD', K_PWEXP, num(e), id)
-- Waiters ahead of it were placed as far as they fit when units were last freed: a new request
-- behind them places the queue only when it heads it (a placement is the costly part of a call).
local mine = redis.call('ZRANK', K_PWAIT, id) == 0 and poolGrant(id, nodes) or nil
if mine then
  local g = cjson.decode(redis.call('HGET', K_PWINFO, id))
  g.ok = true
  redis.call('HSET', K_PWINFO, id, cjson.encode(g))
  return granted(g, mine.fences, mine.exp - now)
end
return { 'queued', redis.call('ZRANK', K_PWAIT, id), recheck(), now, epoch }
`;
