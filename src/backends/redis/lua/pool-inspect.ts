// The POOL_INSPECT script (sent by src/backends/redis/cluster-view.ts). Its KEYS, ARGV and reply
// are in its Lua header, which is part of the script text.

export const POOL_INSPECT = `-- POOL_INSPECT: the pool's cluster queue in grant order, and its hold after a data loss. Read only.
-- KEYS: poolKeyList() of src/backends/redis/keys.ts
--   1: nodes  2: nodeInfo  3: waiters  4: waiterInfo  5: waiterExpiry  6: meta  7: hints
-- ARGV: none
-- Returns: {now, hold (server ms; 0: none), {{id, waiterJson}...}}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, 999)) do
  out[#out + 1] = { id, redis.call('HGET', KEYS[4], id) or '{}' }
end
return { now, tonumber(redis.call('HGET', KEYS[6], 'hold') or '0'), out }
`;
