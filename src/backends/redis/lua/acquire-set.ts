// The ACQUIRE_SET script (sent by src/backends/redis/set-waiters.ts). Its KEYS, ARGV and reply are
// in its Lua header, which is part of the script text.
import { RESOURCE_PRELUDE } from './prelude';

export const ACQUIRE_SET = `-- ACQUIRE_SET: units of each of n resources of one group (src/backends/redis/keys.ts: one
-- hash tag), granted in one step or not at all: a job on several GPUs of one node. Also the
-- set's heartbeat and its poll: idempotent per id.
-- The set waits as one member waiter (id .. '.' .. k, info.sid = id) in the queue of each of its
-- resources, all enqueued by one call, so two sets meet in the same order in every queue they
-- share and cannot deadlock. A member at the head of its queue stops the queue there (no
-- backfill; grantFitting publishes 'e|id|0' so its owner calls at once); the set is granted here
-- when every member heads its queue and fits. A set found in some queues only (a member's
-- heartbeat lapsed) leaves them all and queues again as one.
-- KEYS: 8 per resource, resource k at KEYS[8k-7 .. 8k], each in the order of resourceKeyList(),
--   then the pool's 6 (poolKeyList())
-- ARGV:
--   1: id (member k's waiter id and lease token: id .. '.' .. k)
--   2: units (of each resource)
--   3: priority (0..PRIORITY_MAX)
--   4: leaseTtlMs
--   5: waiterTtlMs
--   6: timeoutMs: ms until the deadline (-1: none)
--   7: holderJson
--   8: channel: the caller's wake-up channel
--   9: tryOnly ('1': grant now or answer 'busy', never stay queued)
--  10: knownEpoch: the pool epoch this client last saw ('': none; see poolEpoch() in ./prelude.ts)
-- Returns: {'granted', grantedAt, remainingMs, waitedMs, now, fence of resource 1, ..., of resource n}
--        | {'queued', position (the largest of the members'), nextExpiryMs (-1: none), now}
--        | {'ended'}: granted once and a member's lease ended since; ask again under a new id
--        | {'nores'|'nofit'|'closed', k}: resource k is unknown, can never hold units, is closed
--        | {'busy'}
${RESOURCE_PRELUDE}
local n = math.floor(#KEYS / 8)
local function use(k)
  local b = 8 * (k - 1)
  K_META, K_HOLD, K_HEXP, K_WAIT, K_WINFO, K_WEXP, K_FENCE, K_ENDED =
    KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], KEYS[b + 4], KEYS[b + 5], KEYS[b + 6], KEYS[b + 7], KEYS[b + 8]
end
local sid, units, prio = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local leaseTtl, waiterTtl, timeout = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local holder, channel, tryOnly = ARGV[7], ARGV[8], ARGV[9] == '1'
poolEpoch(ARGV[10] or '', leaseTtl)
local function mid(k) return sid .. '.' .. k end

local closed = 0
for k = 1, n do
  use(k)
  if prune() > 0 then grantFitting(nil) end
  local m = redis.call('HMGET', K_META, 'capacity', 'closed')
  if not m[1] then return { 'nores', k } end
  if units > tonumber(m[1]) then return { 'nofit', k } end
  if m[2] == '1' and closed == 0 then closed = k end
end

-- Granted by an earlier call whose reply was lost or came late: confirm every member for a
-- full lease TTL, or say it ended (a member expired unconfirmed).
use(1)
if redis.call('HEXISTS', K_HOLD, mid(1)) == 1 then
  local out = { 'granted', 0, leaseTtl, 0, now }
  for k = 1, n do
    use(k)
    local raw = redis.call('HGET', K_HOLD, mid(k))
    if not raw then return { 'ended' } end
    local h = cjson.decode(raw)
    redis.call('ZADD', K_HEXP, num(now + leaseTtl), mid(k))
    out[2], out[4], out[5 + k] = h.at, h.w, h.f
  end
  return out
end

-- In every queue, or in none: a set in some queues only leaves them and queues again as one.
local present, ended = 0, false
for k = 1, n do
  use(k)
  if redis.call('HEXISTS', K_WINFO, mid(k)) == 1 then present = present + 1 end
  if redis.call('ZSCORE', K_ENDED, mid(k)) then ended = true end
end
if present == 0 and ended then return { 'ended' } end
local dl = timeout >= 0 and now + timeout or 0
local e = now + waiterTtl
if dl > 0 and dl < e then e = dl end
if present < n then
  if closed > 0 then return { 'closed', closed } end
  local at = now
  for k = 1, n do
    use(k)
    local raw = redis.call('HGET', K_WINFO, mid(k))
    if raw then
      at = cjson.decode(raw).at
      removeWaiter(mid(k), nil)
    end
  end
  local info = cjson.encode({ u = units, p = prio, at = at, dl = dl, h = holder, c = channel, ttl = leaseTtl, wt = waiterTtl, sid = sid })
  for k = 1, n do
    use(k)
    local seq = redis.call('HINCRBY', K_META, 'seq', 1) % SPAN
    redis.call('HSET', K_WINFO, mid(k), info)
    queueChanged(redis.call('ZADD', K_WAIT, (PMAX - prio) * SPAN + seq, mid(k)))
    redis.call('ZADD', K_WEXP, num(e), mid(k))
  end
else
  for k = 1, n do
    use(k)
    redis.call('ZADD', K_WEXP, num(e), mid(k))
  end
end

-- Granted when each member heads its queue and fits.
local ready = true
for k = 1, n do
  use(k)
  local head = redis.call('ZRANGE', K_WAIT, 0, 0)
  if head[1] ~= mid(k) or free() < units then
    ready = false
    break
  end
end
if ready then
  local out = { 'granted', now, leaseTtl, 0, now }
  for k = 1, n do
    use(k)
    local info = cjson.decode(redis.call('HGET', K_WINFO, mid(k)))
    removeWaiter(mid(k), info)
    local fence = grant(mid(k), info, false)
    out[4], out[5 + k] = now - info.at, num(fence)
    grantFitting(nil) -- what is left of this resource may serve the next in line
  end
  return out
end
if tryOnly then
  for k = 1, n do
    use(k)
    removeWaiter(mid(k), nil)
    grantFitting(nil)
  end
  return { 'busy' }
end
local pos, nx = 0, -1
for k = 1, n do
  use(k)
  local r = redis.call('ZRANK', K_WAIT, mid(k)) or 0
  if r > pos then pos = r end
  local x = nextExpiry()
  if x >= 0 and (nx < 0 or x < nx) then nx = x end
end
return { 'queued', pos, nx, now }
`;
