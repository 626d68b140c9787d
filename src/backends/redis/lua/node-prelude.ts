// The prelude of the node registry's scripts (node-register, node-unregister, node-list): the
// two namespace keys (KEYS[1] nodes, KEYS[2] nodeInfo; namespaceKeys() in
// src/backends/redis/keys.ts), the Redis server clock (`now`), and pruneNodes(), which removes
// the nodes whose heartbeat lapsed.

export const NODE_PRELUDE = `
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
