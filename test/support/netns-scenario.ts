import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { run } from '../../src/cli/main.js';
import { startHostileRegistry } from './hostile-registry.js';
import type { HostileRegistry } from './hostile-registry.js';

/**
 * Runs INSIDE a throwaway network namespace (see access-policy.test.ts): only a loopback interface,
 * holding 127.0.0.1 and 169.254.169.254, so nothing can leave the machine. A hostile registry listens on
 * 169.254.169.254:80 (where a cloud's metadata service would be) and one on 127.0.0.1; the CLI is run
 * in-process against them, and the listeners count the TCP connections each case caused. Prints one JSON
 * object: case name → { code, stderr, connections }.
 */

interface Outcome {
  code: number;
  stderr: string;
  connections: Record<string, number>;
}

async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      stderr += chunk.toString();
      cb();
    },
  });
  const code = await run(['node', 'fn-pinner', ...args], {
    env: { HOME: mkdtempSync(join(tmpdir(), 'fnp-netns-')) },
    stdout: () => undefined,
    stderr: (s) => void (stderr += s),
    stderrStream: sink,
  });
  return { code, stderr };
}

async function measure(regs: HostileRegistry[], args: string[]): Promise<Outcome> {
  for (const r of regs) r.reset();
  const { code, stderr } = await cli(args);
  return { code, stderr, connections: Object.fromEntries(regs.map((r) => [r.host, r.connections])) };
}

function rawConnect(host: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, host, () => socket.end());
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
  });
}

async function main(): Promise<Record<string, Outcome>> {
  const metadata = await startHostileRegistry({ host: '169.254.169.254', port: 80 });
  const local = await startHostileRegistry({ host: '127.0.0.1' });
  const regs = [metadata, local];
  metadata.addImage('latest/meta-data', 'v1');
  local.addImage('fn/app', 'v1');
  const out: Record<string, Outcome> = {};
  try {
    out.metadataIp = await measure(regs, [
      'resolve',
      '169.254.169.254/latest/meta-data:v1',
      '--insecure-registry',
      '169.254.169.254',
    ]);
    out.metadataIpHttps = await measure(regs, ['resolve', '169.254.169.254:80/latest/meta-data:v1']);
    out.rebinding = await measure(regs, [
      'resolve',
      'metadata.rebind.test/latest/meta-data:v1',
      '--insecure-registry',
      'metadata.rebind.test',
    ]);
    out.mappedIpv6 = await measure(regs, ['resolve', '[::ffff:169.254.169.254]:80/latest/meta-data:v1']);
    local.challenge = 'Bearer realm="http://169.254.169.254/token"';
    out.realm = await measure(regs, [
      'resolve',
      `${local.host}/fn/app:v1`,
      '--insecure-registry',
      local.host,
      '--token-realm-allow',
      '169.254.169.254',
    ]);
    local.challenge = undefined;
    out.denyLoopback = await measure(regs, [
      'resolve',
      `${local.host}/fn/app:v1`,
      '--insecure-registry',
      local.host,
      '--registry-deny',
      '127.0.0.0/8',
    ]);
    out.allowedControl = await measure(regs, [
      'resolve',
      `${local.host}/fn/app:v1`,
      '--insecure-registry',
      local.host,
    ]);
    for (const r of regs) r.reset();
    await rawConnect('169.254.169.254', 80);
    // The listener learns of the connection on its own turn of the event loop.
    for (let i = 0; i < 100 && metadata.connections === 0; i++) await new Promise((r) => setTimeout(r, 10));
    out.rawConnectControl = { code: 0, stderr: '', connections: { [metadata.host]: metadata.connections } };
  } finally {
    await Promise.all(regs.map((r) => r.stop()));
  }
  return out;
}

main()
  .then((out) => {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(0);
  })
  .catch((err: unknown) => {
    process.stderr.write(`netns scenario failed: ${String(err)}\n`);
    process.exit(1);
  });
