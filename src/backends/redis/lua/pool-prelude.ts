// The prelude of the pool's scripts (pool-acquire, pool-leave): cluster-wide placement over every
// live node's GPUs in one script. KEYS are poolKeyList() of src/backends/redis/keys.ts: 1 nodes,
// 2 nodeInfo, 3 waiters, 4 waiterInfo, 5 waiterExpiry, 6 meta, 7 hints; every GPU's keys are
// named from the node records (gkey(): the same slot, the pool's hash tag). Reading 512 GPUs'
// own keys costs ~1500 calls (~1.8 ms) per placement; the hints (one HGETALL) are what each
// GPU's last script and each node's last heartbeat wrote, and a GPU picked from them is checked
// against its own keys (verify()) before anything is granted on it. Helpers:
//   liveNodes()                 prunes lapsed nodes (their leases end 'node-lost') and returns
//                               each live node with its GPUs' free units from the hints; a GPU
//                               is `open` to the pool when known, not closed, not in error, its
//                               own queue is empty (node-scope waiters there go first) and the
//                               pool is not held after a data loss
//   syncGpu(g)                  reads one GPU's own keys into g and rewrites its hint
//   verify(w, nodes, reserved)  place() on the hints, then the picked GPUs' own keys; places
//                               again (up to 4 times) while a hint was wrong
//   place(w, nodes, reserved)   where waiter w fits now: `n` GPUs of one node whose labels match,
//                               binpack (least free left, summed) or spread (most free), ties by
//                               the node's utilisation; nil when nowhere
//   couldFit(w, nodes)          whether w fits any live node when all its GPUs are free
//   reserve(w, nodes, reserved) a blocked waiter keeps the GPUs it is nearest to fit: waiters
//                               behind it may take others (backfill) but not those, so it is not
//                               starved by smaller jobs
//   grantOn(id, w, pick, prov)  one lease per GPU, token id .. '.' .. k, on the GPU's own keys (so
//                               node-scope and cluster-scope grants share one ledger)
//   poolGrant(selfId, nodes)    grants the queue's waiters that fit, in order (up to 4 blocked
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

-- One GPU as its own keys say (g.res given), its hint rewritten; 'held' closes every GPU.
local function syncGpu(g, held)
  local m = redis.call('HMGET', gkey(g.res, 'meta'), 'capacity', 'external', 'declared', 'closed')
  if not m[1] then
    redis.call('HDEL', K_PHINTS, g.res)
    g.cap, g.free, g.open, g.exp = -1, -1, false, -1
    return g
  end
  local q = redis.call('ZCARD', gkey(g.res, 'waiters'))
  local e = redis.call('ZRANGE', gkey(g.res, 'hexp'), 0, 0, 'WITHSCORES')
  redis.call('HSET', K_PHINTS, g.res, table.concat({ m[1], m[2] or '0', m[3] or '0', m[4] == '1' and 1 or 0, q, e[2] or '-1' }, '|'))
  g.cap = tonumber(m[1])
  g.free = g.cap - tonumber(m[2] or '0') - tonumber(m[3] or '0')
  g.open = m[4] ~= '1' and not g.err and not held and q == 0
  g.exp = tonumber(e[2] or '-1')
  return g
end

local function endLease(res, token, info, why)
  redis.call('HDEL', gkey(res, 'holders'), token)
  redis.call('ZREM', gkey(res, 'hexp'), token)
  redis.call('HINCRBY', gkey(res, 'meta'), 'declared', -info.u)
  redis.call('ZADD', gkey(res, 'ended'), num(now), token)
  if why then publish(info.c, 'l|' .. token .. '|' .. why) end
  syncGpu({ res = res }, false)
end

local function liveNodes()
  pruneNodes()
  local held = poolHeld()
  local hints = {}
  local all = redis.call('HGETALL', K_PHINTS)
  for i = 1, #all, 2 do hints[all[i]] = all[i + 1] end
  local out = {}
  for _, id in ipairs(redis.call('ZRANGE', K_NODES, 0, -1)) do
    local ok, rec = pcall(cjson.decode, hints['{n}' .. id] or redis.call('HGET', K_NODEINFO, id) or '')
    -- No hint yet (a record written before hints existed): the record itself.
    if ok and type(rec) == 'table' and rec.nodeId then rec = nodeHint(rec) end
    if ok and type(rec) == 'table' and type(rec.g) == 'table' then
      local nd = { id = id, labels = type(rec.l) == 'table' and rec.l or {}, gpus = {}, util = 0 }
      local usum = 0
      for _, gh in ipairs(rec.g) do
        local g = { res = gh.r, err = gh.e == 1 }
        local h = hints[g.res]
        if h then
          local f = {}
          for v in string.gmatch(h, '[^|]+') do f[#f + 1] = tonumber(v) end
          g.cap, g.free, g.exp = f[1], f[1] - f[2] - f[3], f[6]
          g.open = f[4] == 0 and not g.err and not held and f[5] == 0
        else
          syncGpu(g, held)
        end
        -- A holder whose process stopped renewing ends here too: nobody else may touch this GPU.
        if g.exp and g.exp >= 0 and g.exp <= now then
          for _, token in ipairs(redis.call('ZRANGEBYSCORE', gkey(g.res, 'hexp'), '-inf', num(now), 'LIMIT', 0, 16)) do
            local raw = redis.call('HGET', gkey(g.res, 'holders'), token)
            if raw then endLease(g.res, token, cjson.decode(raw), 'expired') else redis.call('ZREM', gkey(g.res, 'hexp'), token) end
          end
          syncGpu(g, held)
        end
        if g.cap >= 0 then nd.gpus[#nd.gpus + 1] = g end
        usum = usum + (tonumber(gh.u) or 0)
      end
      if #rec.g > 0 then nd.util = usum / #rec.g end
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

-- The score of taking GPU g for w: binpack keeps the least free left, spread the most.
local function fitScore(w, g)
  if w.m == 'spread' then return -g.free end
  return g.free - w.u
end

local function place(w, nodes, reserved)
  local best, bestScore, bestUtil
  for _, nd in ipairs(nodes) do
    if matches(nd.labels, w.sel) then
      if w.n == 1 then
        -- One GPU: one pass, no sort (the common case, and the hot loop of a placement).
        for _, g in ipairs(nd.gpus) do
          if g.open and g.free >= w.u and not reserved[g.res] then
            local score = fitScore(w, g)
            if not best or score < bestScore or (score == bestScore and nd.util < bestUtil) then
              best, bestScore, bestUtil = { node = nd, gpus = { g } }, score, nd.util
            end
          end
        end
      else
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
          local from = w.m == 'spread' and #c - w.n + 1 or 1
          for i = from, from + w.n - 1 do
            pick[#pick + 1] = c[i]
            score = score + fitScore(w, c[i])
          end
          if not best or score < bestScore or (score == bestScore and nd.util < bestUtil) then
            best, bestScore, bestUtil = { node = nd, gpus = pick }, score, nd.util
          end
        end
      end
    end
  end
  return best
end

local function verify(w, nodes, reserved)
  local held = poolHeld()
  for _ = 1, 4 do
    local pick = place(w, nodes, reserved)
    if not pick then return nil end
    local right = true
    for _, g in ipairs(pick.gpus) do
      syncGpu(g, held)
      if not g.open or g.free < w.u then right = false end
    end
    if right then return pick end
  end
  return nil
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
    syncGpu(g, false)
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
      local pick = verify(w, nodes, reserved)
      if pick then
        local fences, exp = grantOn(id, w, pick, id ~= selfId)
        keepGranted(id, w, pick, exp)
        if id == selfId then mine = { pick = pick, fences = fences, exp = exp, waited = now - w.at }
        else publish(w.c, 'e|' .. id .. '|0') end
      else
        reserve(w, nodes, reserved)
        blocked = blocked + 1
        if blocked >= 4 then break end
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
