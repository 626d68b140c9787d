import { describe, expect, it } from 'vitest';
import { addonInfo } from '../src/native';

describe('native addon', () => {
  it('loads from the local build or a prebuild and says which', () => {
    const info = addonInfo();
    expect(info.file).toMatch(/\.node$/);
    expect(['prebuild', 'local-build', 'override']).toContain(info.origin);
  });
});
