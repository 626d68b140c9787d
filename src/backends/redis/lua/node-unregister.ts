// The NODE_UNREGISTER script (sent by src/backends/redis/node-registry.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { NODE_PRELUDE } from './node-prelude';

export const NODE_UNREGISTER = `-- NODE_UNREGISTER: removes one node.
-- KEYS: poolKeyList() of src/backends/redis/keys.ts (one hash tag {ns})
--   1: nodes (ZSET node id -> heartbeat expiry)  2: nodeInfo (HASH node id -> node record JSON)
--   7: the pool's placement hints (the node's is removed); 3-6 unused here
-- ARGV:
--   1: nodeId
-- Returns: 1 when it was registered, else 0
${NODE_PRELUDE}
redis.call('HDEL', K_NODEINFO, ARGV[1])
if K_PHINTS then redis.call('HDEL', K_PHINTS, '{n}' .. ARGV[1]) end
return redis.call('ZREM', K_NODES, ARGV[1])
`;
