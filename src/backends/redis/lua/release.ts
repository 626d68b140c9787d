// The RELEASE script (sent by src/backends/redis/release.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { PRELUDE_CORE, PRELUDE_REST } from './prelude';

/** How long a release tombstone is kept (ms), and how many at most. */
export const TOMBSTONE_KEEP_MS = 3_600_000;
export const TOMBSTONE_MAX = 10_000;

export const RELEASE = `-- RELEASE: by token. A lease held by another instance (another channel: a release by token
-- from a client that is not its holder) ends exactly as REVOKE ends it: its holder is told at
-- once on its channel ('l|token|revoked:...'). A token that ended (released, expired, revoked)
-- within the tombstone window is 'already-released', and so is the caller's own lease when Redis
-- lost the resource's data since it was granted (dataLost()); any other is refused and counted
-- in meta.violations.
-- KEYS: the 8 keys of one resource, in the order of resourceKeyList() (src/backends/redis/keys.ts)
--   1: meta  2: holders  3: holderExpiry  4: waiters  5: waiterInfo  6: waiterExpiry  7: fence  8: ended
-- ARGV:
--   1: token
--   2: mayBeGone ('1': the caller's own lease was already lost, e.g. Redis restarted without
--      its data: an unknown token is then 'already-released', not a violation)
--   3: fencingToken of the caller's own lease ('' or -1: the caller holds no such lease)
--   4: channel: the caller's wake-up channel ('' for none)
-- Returns: {'released'|'already-released'|'not-owner', usage}
--   usage = {capacity (-1: unknown resource), external, declared, closed (1|0), waiting, headPriority (-1: none)}
${PRELUDE_CORE}
local token, fence, caller = ARGV[1], tonumber(ARGV[3] or '') or -1, ARGV[4] or ''
-- Tombstones are trimmed now and then (about one release in 16), by age and by count.
local function trimEnded()
  if now % 16 == 0 then
    redis.call('ZREMRANGEBYSCORE', K_ENDED, '-inf', now - ${TOMBSTONE_KEEP_MS})
    redis.call('ZREMRANGEBYRANK', K_ENDED, 0, -${TOMBSTONE_MAX + 1})
  end
end
-- Fast path (uncontended): the caller's own lease, nobody waits, no holder is due for pruning,
-- off the pool: end it (with its tombstone) before the rest of the prelude is even defined.
if not K_PMETA and waiting() == 0 and #redis.call('ZRANGEBYSCORE', K_HEXP, '-inf', now, 'LIMIT', 0, 1) == 0 then
  local raw = redis.call('HGET', K_HOLD, token)
  local info = raw and holderUC(raw)
  if info and info.c == caller then
    redis.call('HDEL', K_HOLD, token)
    redis.call('ZREM', K_HEXP, token)
    addDeclared(-info.u)
    redis.call('ZADD', K_ENDED, now, token)
    trimEnded()
    local m = meta()
    return { 'released', { m.cap or -1, m.ext, m.decl, m.closed and 1 or 0, 0, -1 } }
  end
end
${PRELUDE_REST}
prune()
local raw = redis.call('HGET', K_HOLD, token)
local out
if raw then
  local info = holderUC(raw)
  endHolder(token, info)
  if info.c ~= caller then publish(info.c, 'l|' .. token .. '|revoked:released by token by another client') end
  trimEnded()
  out = 'released'
elseif redis.call('ZSCORE', K_ENDED, token) or ARGV[2] == '1' or (fence > 0 and dataLost(fence)) then
  out = 'already-released'
else
  redis.call('HINCRBY', K_META, 'violations', 1)
  out = 'not-owner'
end
grantFitting(nil)
return { out, usage() }
`;
