// A Grant that wraps another backend's grant, changing only how it is released (the Redis
// adapter maps release outcomes to the contract, the failover forgets fallback tokens).
import type { Grant } from './contract';

/** What a wrapped grant must offer: every Grant field but release. */
export type GrantFields = Pick<Grant, 'resource' | 'units' | 'token' | 'fencingToken' | 'waitedMs' | 'lost'>;

export abstract class ForwardingGrant<Inner extends GrantFields> implements Grant {
  constructor(
    protected readonly inner: Inner,
    /** Date.now() when granted (the contract's clock). */
    readonly grantedAt: number,
  ) {}

  get resource(): string {
    return this.inner.resource;
  }
  get units(): number {
    return this.inner.units;
  }
  get token(): string {
    return this.inner.token;
  }
  get fencingToken(): number {
    return this.inner.fencingToken;
  }
  get waitedMs(): number {
    return this.inner.waitedMs;
  }
  get lost(): AbortSignal {
    return this.inner.lost;
  }

  abstract release(): boolean | Promise<boolean>;
}
