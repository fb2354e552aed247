import { Option } from 'commander';
import type { Command } from 'commander';

import { settingsOf } from './load.js';
import type { CommandName } from './settings.js';

/** Registers a command's settings as options. Defaults are applied by load.ts (after the environment), not here. */
export function addSettings(cmd: Command, command: CommandName): Command {
  for (const s of settingsOf(command)) {
    const option = new Option(s.flag, `${s.help} [env ${s.env}${s.default ? `, default ${s.default}` : ''}]`);
    if (s.repeatable) option.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(option);
  }
  return cmd;
}
