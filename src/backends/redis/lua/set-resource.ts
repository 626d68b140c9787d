// The SET_RESOURCE script (sent by src/backends/redis/resources.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { RESOURCE_PRELUDE } from './prelude';

export const SET_RESOURCE = `-- SET_RESOURCE: creates or changes a resource. Waiters that can never fit the new capacity are
-- removed and told ('x|id|nofit'); those that fit now are granted.
-- KEYS: the 8 keys of one resource, in the order of resourceKeyList() (src/backends/redis/keys.ts)
--   1: meta  2: holders  3: holderExpiry  4: waiters  5: waiterInfo  6: waiterExpiry  7: fence  8: ended
-- ARGV:
--   1: capacity
--   2: external: units used outside the ledger
--   3: closed ('1' | '0')
-- Returns: usage
--   usage = {capacity (-1: unknown resource), external, declared, closed (1|0), waiting, headPriority (-1: none)}
${RESOURCE_PRELUDE}
local cap = tonumber(ARGV[1])
redis.call('HSET', K_META, 'capacity', ARGV[1], 'external', ARGV[2], 'closed', ARGV[3])
MC[K_META] = nil
prune()
local all = redis.call('ZRANGE', K_WAIT, 0, -1)
for _, id in ipairs(all) do
  local raw = redis.call('HGET', K_WINFO, id)
  if raw then
    local info = cjson.decode(raw)
    if info.u > cap then
      removeWaiter(id, info)
      publish(info.c, 'x|' .. id .. '|nofit')
    end
  end
end
grantFitting(nil)
kickPool()
return usage()
`;
