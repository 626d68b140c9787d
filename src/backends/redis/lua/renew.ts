// The RENEW script (sent by src/backends/redis/renewal.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { RESOURCE_PRELUDE } from './prelude';

export const RENEW = `-- RENEW: extends each listed holder's lease to now + ttlMs.
-- KEYS: the 8 keys of one resource, in the order of resourceKeyList() (src/backends/redis/keys.ts)
--   1: meta  2: holders  3: holderExpiry  4: waiters  5: waiterInfo  6: waiterExpiry  7: fence  8: ended
-- ARGV:
--   1: ttlMs
--   2..n: token (one per lease)
-- Returns: {{1|0 per token (0: the lease is gone)}, usage}
--   usage = {capacity (-1: unknown resource), external, declared, closed (1|0), waiting, headPriority (-1: none)}
${RESOURCE_PRELUDE}
local ttl = tonumber(ARGV[1])
if prune() > 0 then grantFitting(nil) end
local out = {}
for i = 2, #ARGV do
  if redis.call('HEXISTS', K_HOLD, ARGV[i]) == 1 then
    redis.call('ZADD', K_HEXP, num(now + ttl), ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return { out, usage() }
`;
