import type { Command } from 'commander';

import { createResolverStack } from '../compose.js';
import { loadResolveConfig } from '../config.js';
import type { RawOptions } from '../config.js';
import type { ImageMetadata } from '../images/resolver.js';
import { createLogger } from '../logging.js';
import { createMetrics } from '../metrics.js';
import { formatPlatform } from '../reference/platform.js';
import type { CliIo } from './io.js';
import { addSettings, failLine } from './io.js';
import { REGISTRY_SETTINGS, RESOLVE_SETTINGS } from '../config.js';

/** The `--json` contract: keep these fields and their meaning stable. */
export function resolveJson(m: ImageMetadata): Record<string, unknown> {
  return {
    image: m.image,
    digest: m.digest,
    resolved: m.resolved,
    entrypoint: m.entrypoint,
    cmd: m.cmd,
    platform: formatPlatform(m.platform),
    mediaType: m.mediaType,
    manifestDigest: m.manifestDigest,
    platforms: m.platforms?.map(formatPlatform) ?? null,
  };
}

function human(m: ImageMetadata): string {
  const lines = [
    `${m.image}`,
    `  resolved:   ${m.resolved}`,
    `  platform:   ${formatPlatform(m.platform)}${m.platforms ? ` (index of ${m.platforms.length})` : ''}`,
    `  entrypoint: ${JSON.stringify(m.entrypoint)}`,
    `  cmd:        ${JSON.stringify(m.cmd)}`,
  ];
  return `${lines.join('\n')}\n`;
}

export function registerResolve(program: Command, io: CliIo): void {
  const cmd = program
    .command('resolve')
    .description("resolve an image's digest, entrypoint and cmd through the registry client")
    .argument('<image>', 'image reference, e.g. ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4')
    .option('--json', 'print one JSON object');
  addSettings(cmd, [...REGISTRY_SETTINGS, ...RESOLVE_SETTINGS]);
  cmd.action(async (image: string, opts: RawOptions) => {
    io.exitCode = await resolveCommand(image, opts, io);
  });
}

async function resolveCommand(image: string, opts: RawOptions, io: CliIo): Promise<number> {
  let stack;
  try {
    const config = loadResolveConfig(opts, io.env);
    // Logs go to stderr so stdout stays machine-readable; only errors unless asked, so a failure stays one line.
    const log = createLogger({ level: opts.logLevel ? config.logging.level : 'error' }, io.stderrStream);
    stack = createResolverStack(config, log, createMetrics());
    const { metadata } = await stack.resolver.resolve(image);
    io.stdout(opts.json ? `${JSON.stringify(resolveJson(metadata))}\n` : human(metadata));
    return 0;
  } catch (err) {
    io.stderr(failLine(image, err));
    return 1;
  } finally {
    await stack?.close();
  }
}
