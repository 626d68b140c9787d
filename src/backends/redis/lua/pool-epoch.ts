// Lua shared by the resource prelude (./prelude.ts, for pool GPUs) and the pool's
// (./pool-prelude.ts): the pool's epoch and the hold on grants after Redis lost the pool's data.
// Expects `now`, `num` and K_PMETA (the pool's meta hash, or nil off the pool) defined before it.
//
// Why: a holder learns that Redis lost its lease only at its next renewal (TTL/3 at most), so a
// grant made at once after an empty restart overlaps it in real time. The epoch (server ms the
// pool's data was created) is sent back in replies and remembered by every client; a client that
// sends an epoch Redis no longer has proves the data was lost, and grants on every pool GPU wait
// (meta.hold) until the leases of before the loss have run out (one lease TTL). A fresh Redis
// cannot be told from an emptied one by Redis alone: the proof comes from the clients (a process
// started after the loss that reaches Redis before every process that knew the old epoch is
// granted at once; docs/design.md says so).

export const POOL_EPOCH_LUA = `
local function poolHeld()
  if not K_PMETA then return false end
  local h = redis.call('HGET', K_PMETA, 'hold')
  return h ~= false and tonumber(h) > now
end

local function poolEpoch(known, holdMs)
  if not K_PMETA then return end
  local e = redis.call('HGET', K_PMETA, 'epoch')
  if not e then
    redis.call('HSET', K_PMETA, 'epoch', num(now))
    if known ~= '' then redis.call('HSET', K_PMETA, 'hold', num(now + holdMs)) end
  elseif known ~= '' and known ~= e then
    -- The caller learnt of the loss late: later grants still wait out the leases of before it.
    local hold = tonumber(e) + holdMs
    if hold > now and hold > tonumber(redis.call('HGET', K_PMETA, 'hold') or '0') then
      redis.call('HSET', K_PMETA, 'hold', num(hold))
    end
  end
end
`;
