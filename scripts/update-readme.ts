// Regenerates the configuration table in README.md from src/config/settings.ts.
import { readFileSync, writeFileSync } from 'node:fs';

import { settingsTable } from '../src/config/table.js';

const file = new URL('../README.md', import.meta.url);
const text = readFileSync(file, 'utf8');
const updated = text.replace(
  /<!-- settings:begin -->[\s\S]*<!-- settings:end -->/,
  `<!-- settings:begin -->\n${settingsTable()}\n<!-- settings:end -->`,
);
writeFileSync(file, updated);
