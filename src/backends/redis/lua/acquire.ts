// The ACQUIRE script (sent by src/backends/redis/waiters.ts). Its KEYS, ARGV and reply are in its
// Lua header, which is part of the script text.
import { PRELUDE_CORE, PRELUDE_REST } from './prelude';

export const ACQUIRE = `-- ACQUIRE: a request for units of one resource. Also the waiter's heartbeat and the
-- safety-net poll: idempotent per id (a waiter already queued is refreshed, one granted by a
-- handoff is confirmed for a full lease TTL).
-- KEYS: the 8 keys of one resource, in the order of resourceKeyList() (src/backends/redis/keys.ts)
--   1: meta  2: holders  3: holderExpiry  4: waiters  5: waiterInfo  6: waiterExpiry  7: fence  8: ended
-- ARGV:
--   1: id: the waiter's id (its lease token once granted)
--   2: units
--   3: priority (0..PRIORITY_MAX, higher first)
--   4: leaseTtlMs
--   5: waiterTtlMs: the waiter's heartbeat TTL
--   6: timeoutMs: ms until the deadline (-1: none)
--   7: holderJson: who asks (shown by INSPECT)
--   8: channel: the caller's wake-up channel (grants and losses are published there)
--   9: queueLimit (0: none)
--  10: tryOnly ('1': grant now or answer 'busy', never enqueue)
--  11: queueGroup ('': none): queueLimit counts this group's waiters only
--  12: knownEpoch: the pool epoch this client last saw ('': none; pool GPUs only, see poolEpoch())
--  13: fresh ('1': the first call under this id, never sent before: it cannot be held, queued
--      or ended yet, so those three reads are skipped)
--  14: recordTail: the end of the holder record, '"h":<holderJson as a JSON string>,"c":<channel
--      as a JSON string>,"p":<priority>}' (see holdLease() in ./prelude.ts; '': built here)
-- Returns: {'granted', fence, grantedAt, remainingMs, waitedMs, now, usage}
--        | {'queued', position, nextExpiryMs (-1: no holder; or when the pool's hold ends), now, usage}
--        | {'ended', usage}: this id was granted and its lease has ended since (it expired
--          before its owner confirmed it, e.g. across a stall); the owner asks again with a new id
--        | {'nores'|'nofit'|'closed'|'busy'|'full', usage}
--   now: the Redis server clock (ms), from which the caller tells how old a published grant is
--   usage = {capacity (-1: unknown resource), external, declared, closed (1|0), waiting, headPriority (-1: none)}
${PRELUDE_CORE}
local id, units, prio = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local leaseTtl, waiterTtl, timeout = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local holder, channel, qlimit, tryOnly, group = ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10] == '1', ARGV[11]
local fresh, tail = ARGV[13] == '1', ARGV[14] or ''
-- Fast path (uncontended): a new request that fits now while nobody waits, off the pool, is
-- granted before the rest of the prelude is even defined. Expired holders are not pruned first:
-- they can only make a request not fit (then the full path below prunes), never over-grant; the
-- next release, renewal or contended call prunes them.
if fresh and not K_PMETA then
  local m = meta()
  if m.cap and not m.closed and units <= m.cap - m.ext - m.decl and waiting() == 0 then
    local fence = holdLease(id, units, holder, channel, prio, 0, leaseTtl, tail)
    return { 'granted', fence, now, leaseTtl, 0, now, { m.cap, m.ext, m.decl, 0, 0, -1 } }
  end
end
${PRELUDE_REST}
poolEpoch(ARGV[12] or '', leaseTtl)
if prune() > 0 then grantFitting(nil) end
local m = meta()
local cap = m.cap
if not cap then return { 'nores', usage() } end
local held = not fresh and redis.call('HGET', K_HOLD, id)
if held then
  -- Granted by a handoff; the owner polling for it confirms it: full lease TTL from now.
  local h = cjson.decode(held)
  redis.call('ZADD', K_HEXP, num(now + leaseTtl), id)
  return { 'granted', h.f, h.at, leaseTtl, h.w, now, usage() }
end
if units > cap then return { 'nofit', usage() } end
local raw = not fresh and redis.call('HGET', K_WINFO, id)
if raw then
  local info = cjson.decode(raw)
  local e = now + waiterTtl
  if info.dl > 0 and info.dl < e then e = info.dl end
  redis.call('ZADD', K_WEXP, num(e), id)
else
  -- Granted once already (a handoff) and ended since: never granted twice under one id.
  if not fresh and redis.call('ZSCORE', K_ENDED, id) then return { 'ended', usage() } end
  if m.closed then return { 'closed', usage() } end
  local info = { u = units, p = prio, at = now, dl = 0, h = holder, c = channel, ttl = leaseTtl, wt = waiterTtl, g = group, t = tail }
  -- Fast path: it fits now and nobody waits (no queue order to keep: no sequence number taken).
  local fits = units <= cap - m.ext - m.decl and not poolHeld()
  if fits and waiting() == 0 then
    local fence, exp = grant(id, info)
    return { 'granted', fence, now, exp - now, 0, now, usage() }
  end
  local seq = redis.call('HINCRBY', K_META, 'seq', 1) % SPAN
  local score = (PMAX - prio) * SPAN + seq
  -- It fits now and nobody of this priority or higher waits (m was read after prune).
  if fits and redis.call('ZCOUNT', K_WAIT, '-inf', '(' .. num(score)) == 0 then
    local fence, exp = grant(id, info)
    return { 'granted', fence, now, exp - now, 0, now, usage() }
  end
  if tryOnly then return { 'busy', usage() } end
  if qlimit > 0 then
    local n
    if group ~= '' then n = tonumber(redis.call('HGET', K_META, 'qg:' .. group) or '0')
    else n = waiting() end
    if n >= qlimit then return { 'full', usage() } end
  end
  if timeout >= 0 then info.dl = now + timeout end
  local e = now + waiterTtl
  if info.dl > 0 and info.dl < e then e = info.dl end
  redis.call('HSET', K_WINFO, id, cjson.encode(info))
  queueChanged(redis.call('ZADD', K_WAIT, score, id))
  redis.call('ZADD', K_WEXP, num(e), id)
  if group ~= '' then redis.call('HINCRBY', K_META, 'qg:' .. group, 1) end
end
local mine = grantFitting(id)
if mine then return { 'granted', mine[1], mine[2], mine[3] - now, mine[4], now, usage() } end
local rank = redis.call('ZRANK', K_WAIT, id)
if not rank then return { 'busy', usage() } end
return { 'queued', rank, nextExpiry(), now, usage() }
`;
