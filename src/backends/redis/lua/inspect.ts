// The INSPECT script (sent by src/backends/redis/resources.ts and cluster-view.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { RESOURCE_PRELUDE } from './prelude';

export const INSPECT = `-- INSPECT: prunes, then returns everything about one resource.
-- KEYS: the 8 keys of one resource, in the order of resourceKeyList() (src/backends/redis/keys.ts)
--   1: meta  2: holders  3: holderExpiry  4: waiters  5: waiterInfo  6: waiterExpiry  7: fence  8: ended
-- ARGV: none
-- Returns: {usage, {{token, holderJson, expiresAt}...}, {{id, waiterJson, score}...}, violations, now}
--   usage = {capacity (-1: unknown resource), external, declared, closed (1|0), waiting, headPriority (-1: none)}
${RESOURCE_PRELUDE}
if prune() > 0 then grantFitting(nil) end
local holders = {}
local h = redis.call('HGETALL', K_HOLD)
for i = 1, #h, 2 do
  holders[#holders + 1] = { h[i], h[i + 1], tonumber(redis.call('ZSCORE', K_HEXP, h[i]) or '0') }
end
local waiters = {}
local w = redis.call('ZRANGE', K_WAIT, 0, -1, 'WITHSCORES')
for i = 1, #w, 2 do
  waiters[#waiters + 1] = { w[i], redis.call('HGET', K_WINFO, w[i]) or '{}', w[i + 1] }
end
return { usage(), holders, waiters, tonumber(redis.call('HGET', K_META, 'violations') or '0'), now }
`;
