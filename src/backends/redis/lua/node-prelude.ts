// The prelude of the node registry's scripts (node-register, node-unregister, node-list) and of
// the pool's (pool-acquire): the two namespace keys (KEYS[1] nodes, KEYS[2] nodeInfo;
// namespaceKeys() in src/backends/redis/keys.ts; with poolKeyList(), KEYS[7] the placement
// hints), the Redis server clock (`now`), and:
//   gkey(resource, part)   a pool GPU's key (same slot: the pool's tag, keys.ts)
//   nodeHint(record)       a node record's placement hint: { l = labels, g = {{ r, e, u }...} }
//   pruneNodes()           removes the nodes whose heartbeat lapsed, and ends every lease on
//                          their GPUs: each holder is told 'l|token|node-lost' (its lease.lost
//                          aborts); the GPUs take no new cluster grants, as the node is not live.
//                          A node that unregisters (a graceful stop) keeps its leases: other
//                          processes of the node may still hold them and heartbeat again.

export const NODE_PRELUDE = `
local K_NODES, K_NODEINFO, K_PHINTS = KEYS[1], KEYS[2], KEYS[7]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function num(x) return string.format('%.0f', x) end
local GPREFIX = string.sub(K_NODES, 1, #K_NODES - 5)
local function gkey(res, part) return GPREFIX .. res .. ':' .. part end
-- A node record's placement hint: its labels and pool GPUs (./pool-prelude.ts reads it).
local function nodeHint(rec)
  local hint = { l = type(rec.labels) == 'table' and rec.labels or {}, g = {} }
  for _, g in ipairs(type(rec.gpus) == 'table' and rec.gpus or {}) do
    local res = type(g) == 'table' and g.resource
    if type(res) == 'string' and string.find(res, '/', 2, true) then
      hint.g[#hint.g + 1] = { r = res, e = (g.error ~= nil and g.error ~= cjson.null) and 1 or 0, u = type(g.utilPct) == 'number' and g.utilPct or 0 }
    end
  end
  return hint
end
local function nodeLost(raw)
  local ok, rec = pcall(cjson.decode, raw or '')
  if not ok or type(rec) ~= 'table' or type(rec.gpus) ~= 'table' then return end
  for _, g in ipairs(rec.gpus) do
    local res = type(g) == 'table' and g.resource
    -- Only a pool GPU (a resource of a group) lives in this slot.
    if type(res) == 'string' and string.find(res, '/', 2, true) then
      if K_PHINTS then redis.call('HDEL', K_PHINTS, res) end
      local all = redis.call('HGETALL', gkey(res, 'holders'))
      for i = 1, #all, 2 do
        local token, info = all[i], cjson.decode(all[i + 1])
        redis.call('HDEL', gkey(res, 'holders'), token)
        redis.call('ZREM', gkey(res, 'hexp'), token)
        redis.call('HINCRBY', gkey(res, 'meta'), 'declared', -info.u)
        redis.call('ZADD', gkey(res, 'ended'), num(now), token)
        if info.c and info.c ~= '' then redis.call('PUBLISH', info.c, 'l|' .. token .. '|node-lost') end
      end
    end
  end
end
local function pruneNodes()
  local dead = redis.call('ZRANGEBYSCORE', K_NODES, '-inf', num(now))
  for _, id in ipairs(dead) do
    nodeLost(redis.call('HGET', K_NODEINFO, id))
    redis.call('ZREM', K_NODES, id)
    redis.call('HDEL', K_NODEINFO, id)
    if K_PHINTS then redis.call('HDEL', K_PHINTS, '{n}' .. id) end
  end
end
`;
