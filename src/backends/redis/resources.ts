// The resources of a namespace as this process sees them: the settings it gave each one
// (replayed when Redis lost them: restarted without persistence), the namespace's list of
// resources (a view for inspect and the CLI), and inspect(), which reads everything about them.
import { booleanValue, integerInRange, knownKeys, optionsObject } from '../../util/validate';
import type { RedisConnection } from './connection';
import type { LeasesCore } from './core';
import { namespaceKeys } from './keys';
import { checkResource } from './limits';
import { parseHolder, parseJson } from './replies';
import type { UsageTuple } from './replies';
import { MAX_UNITS } from './request';
import { SCRIPTS } from './scripts';
import type { InspectResource, RedisInspectView, ResourceSettings, ResourceUsage } from './types';

/** Every resource ever configured in `namespace` (by any process), unsorted. */
export function namespaceResources(conn: RedisConnection, namespace: string): Promise<string[]> {
  const nsKey = namespaceKeys(namespace).resources;
  return conn.command('SMEMBERS', (c) => c.smembers(nsKey));
}

export class Resources {
  /** Resources this process configured (inspect() lists them even before the namespace does). */
  private readonly known = new Set<string>();
  /** The last settings this process gave each resource, replayed if Redis loses them. */
  private readonly settings = new Map<string, ResourceSettings>();

  constructor(private readonly core: LeasesCore) {}

  /** setResource(): checks, writes (SET_RESOURCE), and lists the resource in its namespace. */
  async set(resource: string, settings: ResourceSettings): Promise<ResourceUsage> {
    this.core.assertOpen();
    checkResource('resource', resource);
    const s = optionsObject<ResourceSettings>('settings', settings);
    knownKeys('settings', s, ['capacity', 'external', 'closed']);
    const capacity = integerInRange('settings.capacity', s.capacity, 0, MAX_UNITS);
    const external = s.external === undefined ? 0 : integerInRange('settings.external', s.external, 0, MAX_UNITS);
    const closed = s.closed === undefined ? false : booleanValue('settings.closed', s.closed);
    const reply = await this.core.run(SCRIPTS.setResource, resource, [capacity, external, closed ? '1' : '0']);
    this.known.add(resource);
    this.settings.set(resource, { capacity, external, closed });
    // The list of resources is a view for inspect and the CLI, in the namespace's own slot.
    const nsKey = namespaceKeys(this.core.config.namespace).resources;
    await this.core.conn.run(SCRIPTS.nsAddResource, [nsKey], [resource]);
    return this.core.updateUsage(resource, reply as UsageTuple);
  }

  /** The settings this process last gave `resource` (undefined: never configured here). */
  settingsOf(resource: string): ResourceSettings | undefined {
    return this.settings.get(resource);
  }

  /**
   * Everything about the namespace's resources, from Redis. With `resources`, only those (one
   * script each, no namespace listing).
   */
  async inspect(options: { resources?: readonly string[] }): Promise<RedisInspectView> {
    this.core.assertOpen();
    const names = new Set<string>(options.resources ?? this.known);
    if (options.resources === undefined) {
      for (const r of await namespaceResources(this.core.conn, this.core.config.namespace)) names.add(r);
    }
    const resources: InspectResource[] = [];
    for (const resource of [...names].sort()) {
      const reply = (await this.core.run(SCRIPTS.inspect, resource, [])) as unknown[];
      resources.push(this.inspectResource(resource, reply));
    }
    return {
      kind: 'redis',
      namespace: this.core.config.namespace,
      resources,
      ownershipViolations: this.core.counts.ownershipViolations,
    };
  }

  private inspectResource(resource: string, reply: unknown[]): InspectResource {
    const usage = this.core.updateUsage(resource, reply[0] as UsageTuple);
    const holders = (reply[1] as Array<[string, string, number]>).map(([token, raw, exp]) => {
      const h = parseJson(raw);
      return {
        token,
        fencingToken: Number(h.f),
        units: Number(h.u),
        grantedAt: Number(h.at),
        expiresAt: Number(exp),
        holder: parseHolder(h.h),
      };
    });
    holders.sort((a, b) => a.fencingToken - b.fencingToken);
    const waiters = (reply[2] as Array<[string, string, string]>).map(([, raw], position) => {
      const w = parseJson(raw);
      return {
        position,
        units: Number(w.u),
        priority: Number(w.p),
        enqueuedAt: Number(w.at),
        deadline: Number(w.dl) > 0 ? Number(w.dl) : null,
        holder: parseHolder(w.h),
      };
    });
    return { resource, ...usage, holders, waiters, ownershipViolations: Number(reply[3]) };
  }
}
