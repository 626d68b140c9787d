// The prelude of the pool's scripts (pool-acquire, pool-leave): cluster-wide placement over every
// live node's GPUs in one script. KEYS are poolKeyList() of src/backends/redis/keys.ts: 1 nodes,
// 2 nodeInfo, 3 waiters, 4 waiterInfo, 5 waiterExpiry, 6 meta; every GPU's keys are named from
// the node records (gkey(): the same slot, the pool's hash tag). Helpers:
//   liveNodes()                 prunes lapsed nodes (their leases end 'node-lost') and returns
//                               each live node with its GPUs' free units, as of this call; a GPU
//                               is `open` to the pool when known, not closed, not in error, its
//                               own queue is empty (node-scope waiters there go first) and the
//                               pool is not held after a data loss
//   place(w, nodes, reserved)   where waiter w fits now: `n` GPUs of one node whose labels match,
//                               binpack (least free left, summed) or spread (most free), ties by
//                               the node's utilisation; nil when nowhere
//   couldFit(w, nodes)          whether w fits any live node when all its GPUs are free
//   reserve(w, nodes, reserved) a blocked waiter keeps the GPUs it is nearest to fit: waiters
//                               behind it may take others (backfill) but not those, so it is not
//                               starved by smaller jobs
//   grantOn(id, w, pick, prov)  one lease per GPU, token id .. '.' .. k, on the GPU's own keys (so
//                               node-scope and cluster-scope grants share one ledger)
//   poolGrant(selfId, nodes)    grants the queue's waiters that fit, in order (up to 8 blocked
//                               ones keep reservations); another owner's grant is provisional
//                               and its owner is told to call ('e|id|0') to confirm it
import { NODE_PRELUDE } from './node-prelude';
import { FENCE_LUA } from './fence';
import { POOL_EPOCH_LUA } from './pool-epoch';
import { PRIORITY_MAX, SEQ_SPAN } from './prelude';

export const POOL_PRELUDE = `${NODE_PRELUDE}
local K_PWAIT, K_PWINFO, K_PWEXP, K_PMETA = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local PMAX, SPAN = ${PRIORITY_MAX}, ${SEQ_SPAN}
${FENCE_LUA}
${POOL_EPOCH_LUA}
local function publish(ch, msg)
  if ch and ch ~= '' then redis.call('PUBLISH', ch, msg) end
end

local function endLease(res, token, info, why)
  redis.call('HDEL', gkey(res, 'holders'), token)
  redis.call('ZREM', gkey(res, 'hexp'), token)
  redis.call('HINCRBY', gkey(res, 'meta'), 'declared', -info.u)
  redis.call('ZADD', gkey(res, 'ended'), num(now), token)
  if why then publish(info.c, 'l|' .. token .. '|' .. why) end
end

local function liveNodes()
  pruneNodes()
  local held = poolHeld()
  local out = {}
  for _, id in ipairs(redis.call('ZRANGE', K_NODES, 0, -1)) do
    local ok, rec = pcall(cjson.decode, redis.call('HGET', K_NODEINFO, id) or '')
    if ok and type(rec) == 'table' then
      local nd = { id = id, labels = type(rec.labels) == 'table' and rec.labels or {}, gpus = {}, util = 0 }
      local usum, ucount = 0, 0
      for _, g in ipairs(type(rec.gpus) == 'table' and rec.gpus or {}) do
        local res = type(g) == 'table' and g.resource
        if type(res) == 'string' and string.find(res, '/', 2, true) then
          -- Holders whose process stopped renewing end here too: nobody else may touch this GPU.
          for _, token in ipairs(redis.call('ZRANGEBYSCORE', gkey(res, 'hexp'), '-inf', num(now), 'LIMIT', 0, 16)) do
            local raw = redis.call('HGET', gkey(res, 'holders'), token)
            if raw then endLease(res, token, cjson.decode(raw), 'expired') else redis.call('ZREM', gkey(res, 'hexp'), token) end
          end
          local m = redis.call('HMGET', gkey(res, 'meta'), 'capacity', 'external', 'declared', 'closed')
          if m[1] then
            local cap = tonumber(m[1])
            local inError = g.error ~= nil and g.error ~= cjson.null
            local open = m[4] ~= '1' and not inError and not held and redis.call('ZCARD', gkey(res, 'waiters')) == 0
            nd.gpus[#nd.gpus + 1] = { res = res, cap = cap, free = cap - tonumber(m[2] or '0') - tonumber(m[3] or '0'), open = open }
          end
          if type(g.utilPct) == 'number' then usum, ucount = usum + g.utilPct, ucount + 1 end
        end
      end
      if ucount > 0 then nd.util = usum / ucount end
      out[#out + 1] = nd
    end
  end
  return out
end

local function matches(labels, sel)
  if type(sel) ~= 'table' then return true end
  for k, v in pairs(sel) do
    if labels[k] ~= v then return false end
  end
  return true
end

local function place(w, nodes, reserved)
  local best, bestScore, bestUtil
  for _, nd in ipairs(nodes) do
    if matches(nd.labels, w.sel) then
      local c = {}
      for _, g in ipairs(nd.gpus) do
        if g.open and not reserved[g.res] and g.free >= w.u then c[#c + 1] = g end
      end
      if #c >= w.n then
        table.sort(c, function(a, b)
          if a.free ~= b.free then return a.free < b.free end
          return a.res < b.res
        end)
        local pick, score = {}, 0
        if w.m == 'spread' then
          for i = #c - w.n + 1, #c do pick[#pick + 1] = c[i]; score = score - c[i].free end
        else
          for i = 1, w.n do pick[#pick + 1] = c[i]; score = score + c[i].free - w.u end
        end
        if not best or score < bestScore or (score == bestScore and nd.util < bestUtil) then
          best, bestScore, bestUtil = { node = nd, gpus = pick }, score, nd.util
        end
      end
    end
  end
  return best
end

local function couldFit(w, nodes)
  local largest = -1
  for _, nd in ipairs(nodes) do
    if matches(nd.labels, w.sel) then
      local n = 0
      for _, g in ipairs(nd.gpus) do
        if g.cap >= w.u then n = n + 1 end
        if g.cap > largest then largest = g.cap end
      end
      if n >= w.n then return true, largest end
    end
  end
  return false, largest
end

local function reserve(w, nodes, reserved)
  local best, bestScore
  for _, nd in ipairs(nodes) do
    if matches(nd.labels, w.sel) then
      local c = {}
      for _, g in ipairs(nd.gpus) do
        if g.cap >= w.u and not reserved[g.res] then c[#c + 1] = g end
      end
      if #c >= w.n then
        table.sort(c, function(a, b) return a.free > b.free end)
        if not best or c[w.n].free > bestScore then best, bestScore = { unpack(c, 1, w.n) }, c[w.n].free end
      end
    end
  end
  if best then for _, g in ipairs(best) do reserved[g.res] = true end end
end

local function grantOn(id, w, pick, provisional)
  local ttl = w.ttl
  if provisional and w.wt < ttl then ttl = w.wt end
  local exp = now + ttl
  local fences = {}
  for k, g in ipairs(pick.gpus) do
    local token = id .. '.' .. k
    local fence = nextFence(gkey(g.res, 'fence'), gkey(g.res, 'meta'))
    redis.call('HSET', gkey(g.res, 'holders'), token, cjson.encode({ u = w.u, f = num(fence), at = now, w = now - w.at,
      h = w.h, c = w.c, p = w.p }))
    redis.call('ZADD', gkey(g.res, 'hexp'), num(exp), token)
    redis.call('HINCRBY', gkey(g.res, 'meta'), 'declared', w.u)
    g.free = g.free - w.u
    fences[k] = num(fence)
  end
  return fences, exp
end

-- The record of a granted waiter stays (w.g: its GPUs) until it is confirmed or expires, so a
-- repeated call with its id confirms the same grant instead of granting again.
local function keepGranted(id, w, pick, exp)
  w.g, w.node, w.ga = {}, pick.node.id, now
  for _, g in ipairs(pick.gpus) do w.g[#w.g + 1] = g.res end
  redis.call('ZREM', K_PWAIT, id)
  redis.call('HSET', K_PWINFO, id, cjson.encode(w))
  redis.call('ZADD', K_PWEXP, num(exp), id)
end

local function poolGrant(selfId, nodes)
  if poolHeld() then return nil end
  local reserved, mine, blocked = {}, nil, 0
  for _, id in ipairs(redis.call('ZRANGE', K_PWAIT, 0, 63)) do
    local raw = redis.call('HGET', K_PWINFO, id)
    if not raw then
      redis.call('ZREM', K_PWAIT, id)
      redis.call('ZREM', K_PWEXP, id)
    else
      local w = cjson.decode(raw)
      local pick = place(w, nodes, reserved)
      if pick then
        local fences, exp = grantOn(id, w, pick, id ~= selfId)
        keepGranted(id, w, pick, exp)
        if id == selfId then mine = { pick = pick, fences = fences, exp = exp, waited = now - w.at }
        else publish(w.c, 'e|' .. id .. '|0') end
      else
        reserve(w, nodes, reserved)
        blocked = blocked + 1
        if blocked >= 8 then break end
      end
    end
  end
  return mine
end

-- Waiters whose heartbeat or deadline passed leave; a grant never confirmed ends (its owner is
-- gone: its leases are provisional and end now rather than at their expiry).
local function prunePool()
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_PWEXP, '-inf', num(now), 'LIMIT', 0, 64)) do
    local raw = redis.call('HGET', K_PWINFO, id)
    local w = raw and cjson.decode(raw)
    if w and w.g and not w.ok then
      for k, res in ipairs(w.g) do
        local h = redis.call('HGET', gkey(res, 'holders'), id .. '.' .. k)
        if h then endLease(res, id .. '.' .. k, cjson.decode(h), nil) end
      end
    end
    redis.call('ZREM', K_PWAIT, id)
    redis.call('HDEL', K_PWINFO, id)
    redis.call('ZREM', K_PWEXP, id)
  end
end
`;
