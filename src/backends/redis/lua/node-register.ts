// The NODE_REGISTER script (sent by src/backends/redis/node-registry.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { NODE_PRELUDE } from './node-prelude';

export const NODE_REGISTER = `-- NODE_REGISTER: writes (or refreshes) one node's record under a heartbeat TTL; prunes lapsed nodes.
-- KEYS: namespaceKeys() of src/backends/redis/keys.ts (one hash tag {ns})
--   1: nodes (ZSET node id -> heartbeat expiry)  2: nodeInfo (HASH node id -> node record JSON)
-- ARGV:
--   1: nodeId
--   2: ttlMs
--   3: recordJson
-- Returns: the server's now (ms)
${NODE_PRELUDE}
pruneNodes()
redis.call('ZADD', K_NODES, num(now + tonumber(ARGV[2])), ARGV[1])
redis.call('HSET', K_NODEINFO, ARGV[1], ARGV[3])
return now
`;
