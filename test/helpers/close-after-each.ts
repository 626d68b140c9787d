// A list whose members are closed after each test of the file that asks for it.
import { afterEach } from 'vitest';

export function closeAfterEach<T extends { close(): Promise<unknown> }>(): T[] {
  const items: T[] = [];
  afterEach(async () => {
    await Promise.all(items.splice(0).map((x) => x.close()));
  });
  return items;
}
