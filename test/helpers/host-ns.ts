// Unique namespaces per test, removed afterwards (tests never share a ledger).
import { randomBytes } from 'node:crypto';
import { removeHostNamespace } from '../../src/backends/host/namespaces';

const made: string[] = [];

export function uniqueNamespace(tag: string): string {
  const ns = `test-${tag}-${process.pid}-${randomBytes(4).toString('hex')}`;
  made.push(ns);
  return ns;
}

export function removeTestNamespaces(): void {
  while (made.length > 0) removeHostNamespace(made.pop() as string);
}

/** Polls `check` (cheap ledger reads) until it returns true or `timeoutMs` passes. */
export async function waitUntil(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
