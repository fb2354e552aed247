import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';

import { settingsTable } from '../../src/config/table.js';

describe('README', () => {
  it('lists every flag and environment variable exactly as the code defines them', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = /<!-- settings:begin -->\n([\s\S]*)\n<!-- settings:end -->/.exec(readme)?.[1];
    const normalise = (t: string): string =>
      t
        .replace(/ +/g, ' ')
        .replace(/\| ?-+ ?/g, '|-')
        .trim();
    expect(normalise(table ?? '')).toBe(normalise(settingsTable()));
  });
});
