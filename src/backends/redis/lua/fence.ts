// Lua shared by the resource prelude (./prelude.ts) and the pool's (./pool-prelude.ts): the next
// fencing token of one resource. Expects `now` and `num` defined before it.

export const FENCE_LUA = `
-- A new (or lost: Redis restarted without persistence) counter starts at server ms * 1000, so
-- fencing tokens keep increasing across a data loss unless the old counter averaged more than
-- 1000 grants per ms. The seed is kept (meta.fence0): a lease whose fencing token is below it
-- was granted before the data loss (see dataLost() in ./prelude.ts).
local function nextFence(kFence, kMeta)
  local fence = redis.call('INCR', kFence)
  if fence == 1 then
    fence = now * 1000
    redis.call('SET', kFence, num(fence))
    redis.call('HSET', kMeta, 'fence0', num(fence))
  end
  return fence
end
`;
