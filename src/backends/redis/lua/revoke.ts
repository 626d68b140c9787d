// The REVOKE script (sent by src/backends/redis/leases.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { RESOURCE_PRELUDE } from './prelude';

export const REVOKE = `-- REVOKE: an admin takes a lease away; its owner is told on its channel ('l|token|revoked:reason').
-- KEYS: the 8 keys of one resource, in the order of resourceKeyList() (src/backends/redis/keys.ts)
--   1: meta  2: holders  3: holderExpiry  4: waiters  5: waiterInfo  6: waiterExpiry  7: fence  8: ended
-- ARGV:
--   1: token
--   2: reason (no '|')
-- Returns: {'revoked'|'not-found', usage}
--   usage = {capacity (-1: unknown resource), external, declared, closed (1|0), waiting, headPriority (-1: none)}
${RESOURCE_PRELUDE}
local token, reason = ARGV[1], ARGV[2]
prune()
local raw = redis.call('HGET', K_HOLD, token)
local out = 'not-found'
if raw then
  local info = cjson.decode(raw)
  endHolder(token, info)
  publish(info.c, 'l|' .. token .. '|revoked:' .. reason)
  out = 'revoked'
end
grantFitting(nil)
return { out, usage() }
`;
