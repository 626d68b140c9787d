// The LEAVE script (sent by src/backends/redis/release.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { RESOURCE_PRELUDE } from './prelude';

export const LEAVE = `-- LEAVE: a waiter gives up (abort, deadline, close). If a release granted it meanwhile, the
-- grant is released instead, so nothing is left behind either way.
-- KEYS: the 8 keys of one resource, in the order of resourceKeyList() (src/backends/redis/keys.ts)
--   1: meta  2: holders  3: holderExpiry  4: waiters  5: waiterInfo  6: waiterExpiry  7: fence  8: ended
-- ARGV:
--   1: id: the waiter's id
-- Returns: {'left'|'released'|'gone', usage}
--   usage = {capacity (-1: unknown resource), external, declared, closed (1|0), waiting, headPriority (-1: none)}
${RESOURCE_PRELUDE}
local id = ARGV[1]
prune()
local out = 'gone'
local raw = redis.call('HGET', K_WINFO, id)
if raw or redis.call('ZSCORE', K_WAIT, id) then
  removeWaiter(id, raw and cjson.decode(raw) or nil)
  out = 'left'
else
  local held = redis.call('HGET', K_HOLD, id)
  if held then
    endHolder(id, holderUC(held))
    out = 'released'
  end
end
grantFitting(nil)
return { out, usage() }
`;
