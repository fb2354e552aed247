import { SETTINGS } from './settings.js';
import type { CommandName, Setting } from './settings.js';

const ALL: readonly CommandName[] = ['resolve', 'mutate', 'serve', 'audit'];

function usedBy(commands: readonly CommandName[]): string {
  if (ALL.every((c) => commands.includes(c))) return 'all commands';
  return commands.map((c) => `\`${c}\``).join(', ');
}

/** The README's configuration table, generated so it cannot drift from the code (a unit test compares). */
export function settingsTable(): string {
  const cell = (text: string): string => text.replace(/\|/g, '\\|');
  const rows = (SETTINGS as readonly Setting[]).map((s) => {
    const def = s.default ? `\`${s.default}\`` : '';
    return `| \`${cell(s.flag)}\` | \`${s.env}\` | ${def} | ${usedBy(s.commands)} | ${cell(s.help)} |`;
  });
  return ['| flag | environment | default | used by | meaning |', '|---|---|---|---|---|', ...rows].join(
    '\n',
  );
}
