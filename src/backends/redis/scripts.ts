// The Lua scripts, gathered. Every state change of the Redis backend is exactly one of these
// (atomic on the server), and each reads the Redis server clock (TIME) for every expiry and
// deadline, so client clocks never matter. One script per file in ./lua/, each opening with a
// Lua header that lists its KEYS, its ARGV and its reply. They are TypeScript modules exporting
// the Lua text (not .lua files), so the same code runs from src/ under vitest and from dist/
// after tsc with nothing to copy.
//
// Per-resource scripts take the 8 keys of `resourceKeyList()` (one hash tag) and share
// ./lua/prelude.ts; their replies end with the resource's usage tuple:
// {capacity, external, declared, closed, waiting, headPriority}.
import { createHash } from 'node:crypto';
import { ACQUIRE } from './lua/acquire';
import { ACQUIRE_SET } from './lua/acquire-set';
import { INSPECT } from './lua/inspect';
import { LEAVE } from './lua/leave';
import { NODE_LIST } from './lua/node-list';
import { NODE_REGISTER } from './lua/node-register';
import { NODE_UNREGISTER } from './lua/node-unregister';
import { NS_ADD_RESOURCE } from './lua/ns-add-resource';
import { POOL_ACQUIRE } from './lua/pool-acquire';
import { POOL_INSPECT } from './lua/pool-inspect';
import { POOL_LEAVE } from './lua/pool-leave';
import { RELEASE } from './lua/release';
import { RENEW } from './lua/renew';
import { REVOKE } from './lua/revoke';
import { SET_RESOURCE } from './lua/set-resource';

export { PRIORITY_MAX, SEQ_SPAN } from './lua/prelude';
export { TOMBSTONE_KEEP_MS, TOMBSTONE_MAX } from './lua/release';

/** A script with its SHA1, computed here so EVALSHA can be tried first without SCRIPT LOAD. */
export interface LuaScript {
  name: string;
  source: string;
  sha: string;
}

function script(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

export const SCRIPTS = {
  acquire: script('acquire', ACQUIRE),
  acquireSet: script('acquireSet', ACQUIRE_SET),
  release: script('release', RELEASE),
  renew: script('renew', RENEW),
  leave: script('leave', LEAVE),
  revoke: script('revoke', REVOKE),
  setResource: script('setResource', SET_RESOURCE),
  inspect: script('inspect', INSPECT),
  nodeRegister: script('nodeRegister', NODE_REGISTER),
  nodeUnregister: script('nodeUnregister', NODE_UNREGISTER),
  nodeList: script('nodeList', NODE_LIST),
  nsAddResource: script('nsAddResource', NS_ADD_RESOURCE),
  poolAcquire: script('poolAcquire', POOL_ACQUIRE),
  poolLeave: script('poolLeave', POOL_LEAVE),
  poolInspect: script('poolInspect', POOL_INSPECT),
} as const;

export type ScriptName = keyof typeof SCRIPTS;
