// The POOL_LEAVE script (sent by src/backends/redis/pool-waiters.ts). Its KEYS, ARGV and reply
// are in its Lua header, which is part of the script text.
import { POOL_PRELUDE } from './pool-prelude';

export const POOL_LEAVE = `-- POOL_LEAVE: a cluster-scope waiter gives up (abort, deadline, close). A grant made to it
-- meanwhile is given back (its GPUs then go to the queue), so nothing is left behind.
-- KEYS: poolKeyList() of src/backends/redis/keys.ts
--   1: nodes  2: nodeInfo  3: waiters  4: waiterInfo  5: waiterExpiry  6: meta  7: hints
-- ARGV:
--   1: id
-- Returns: 'left' | 'released' | 'gone'
${POOL_PRELUDE}
local id = ARGV[1]
local raw = redis.call('HGET', K_PWINFO, id)
if not raw then return 'gone' end
local w = cjson.decode(raw)
local out = 'left'
if w.g then
  for k, res in ipairs(w.g) do
    local h = redis.call('HGET', gkey(res, 'holders'), id .. '.' .. k)
    if h then
      endLease(res, id .. '.' .. k, cjson.decode(h), nil)
      out = 'released'
    end
  end
end
redis.call('ZREM', K_PWAIT, id)
redis.call('HDEL', K_PWINFO, id)
redis.call('ZREM', K_PWEXP, id)
if out == 'released' then poolGrant(nil, liveNodes()) end
return out
`;
