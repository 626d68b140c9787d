// The optional --token of a dashboard. EventSource cannot send headers, so the page passes the
// token as ?token=; scripts and proxies may use `Authorization: Bearer T` or `X-Gpu-Arbiter-Token`.
// Compared in constant time over SHA-256 digests (equal lengths, so the length of the token does
// not leak through timingSafeEqual's early exit either).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** The token a request presents: header first, then the query. null: none. */
export function presentedToken(req: IncomingMessage, url: URL): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '');
  const header = req.headers['x-gpu-arbiter-token'];
  if (typeof header === 'string') return header;
  return url.searchParams.get('token');
}

/** A check for one configured token; with none, every request passes. */
export function tokenCheck(token: string | undefined): (presented: string | null) => boolean {
  if (token === undefined) return () => true;
  const want = digest(token);
  return (presented) => presented !== null && timingSafeEqual(digest(presented), want);
}
