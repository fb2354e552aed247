import { withResolverStack } from '../app/one-shot.js';
import { loadConfig } from '../config/load.js';
import type { RawOptions } from '../config/load.js';
import type { ImageMetadata } from '../images/resolver.js';
import { formatPlatform } from '../reference/platform.js';
import type { CliIo } from './io.js';
import { failLine } from './io.js';

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

export async function resolveCommand(image: string, opts: RawOptions, io: CliIo): Promise<number> {
  try {
    const config = loadConfig('resolve', opts, io.env);
    const { metadata } = await withResolverStack(config, io.stderrStream, async (stack) =>
      stack.resolver.resolve(image),
    );
    io.stdout(opts.json ? `${JSON.stringify(resolveJson(metadata))}\n` : human(metadata));
    return 0;
  } catch (err) {
    io.stderr(failLine(image, err));
    return 1;
  }
}
