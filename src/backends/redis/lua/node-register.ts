// The NODE_REGISTER script (sent by src/backends/redis/node-registry.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { NODE_PRELUDE } from './node-prelude';

export const NODE_REGISTER = `-- NODE_REGISTER: writes (or refreshes) one node's record under a heartbeat TTL; prunes lapsed nodes.
-- The cluster queue's head is woken ('e|id|0'): this node's GPUs may fit it now.
-- KEYS: poolKeyList() of src/backends/redis/keys.ts (one hash tag {ns})
--   1: nodes (ZSET node id -> heartbeat expiry)  2: nodeInfo (HASH node id -> node record JSON)
--   3: the cluster queue (ZSET)  4: its waiter records (HASH)  (5, 6: unused here)
--   7: the pool's placement hints (HASH): the node's labels and GPUs, '{n}<nodeId>'
-- ARGV:
--   1: nodeId
--   2: ttlMs
--   3: recordJson
-- Returns: the server's now (ms)
${NODE_PRELUDE}
pruneNodes()
redis.call('ZADD', K_NODES, num(now + tonumber(ARGV[2])), ARGV[1])
redis.call('HSET', K_NODEINFO, ARGV[1], ARGV[3])
if K_PHINTS then
  -- The node's placement hint: its labels and pool GPUs, decoded here once per heartbeat rather
  -- than once per placement.
  local ok, rec = pcall(cjson.decode, ARGV[3])
  if ok and type(rec) == 'table' then redis.call('HSET', K_PHINTS, '{n}' .. ARGV[1], cjson.encode(nodeHint(rec))) end
end
if KEYS[4] then
  local head = redis.call('ZRANGE', KEYS[3], 0, 0)
  local raw = head[1] and redis.call('HGET', KEYS[4], head[1])
  if raw then redis.call('PUBLISH', cjson.decode(raw).c, 'e|' .. head[1] .. '|0') end
end
return now
`;
