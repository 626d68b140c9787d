// The NODE_LIST script (sent by src/backends/redis/node-registry.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { NODE_PRELUDE } from './node-prelude';

export const NODE_LIST = `-- NODE_LIST: prunes nodes whose heartbeat lapsed, then lists the live ones.
-- KEYS: namespaceKeys() of src/backends/redis/keys.ts (one hash tag {ns})
--   1: nodes (ZSET node id -> heartbeat expiry)  2: nodeInfo (HASH node id -> node record JSON)
-- ARGV: none
-- Returns: {now, {{id, recordJson, expiresAt}...}}
${NODE_PRELUDE}
pruneNodes()
local out = {}
local ids = redis.call('ZRANGE', K_NODES, 0, -1, 'WITHSCORES')
for i = 1, #ids, 2 do
  out[#out + 1] = { ids[i], redis.call('HGET', K_NODEINFO, ids[i]) or '{}', tonumber(ids[i + 1]) }
end
return { now, out }
`;
