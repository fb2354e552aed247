import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { exited, kill, spawnLogged, tail } from '../kube.js';
import type { Proc } from '../kube.js';
import { BRIDGE, NODE_ROOT, NODE_RUN, ensureDirs, readText, recordPid } from './host.js';
import type { HostState } from './host.js';

/**
 * containerd (Debian 1.6) with its CRI plugin, for the kubelet: its own root, state, socket and runc root,
 * a bridge CNI network of its own and a certs.d folder for the suite's registries. Workarounds this VM
 * needs (shared/reference/node-and-image.md): restrict_oom_score_adj (no CAP_SYS_RESOURCE), network
 * namespaces under the state dir, no AppArmor.
 */
export interface Containerd {
  /** unix:///…/containerd.sock, as the kubelet takes it. */
  endpoint: string;
  socket: string;
  log: string;
  /** Lets containerd pull from a registry: plain HTTP, or HTTPS trusting `caPem` (certs.d `ca`). */
  trustRegistry(host: string, opts: { caPem?: string }): void;
  /** Runs `ctr` against this containerd, in the CRI namespace. */
  ctr(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export const CNI_SUBNET = '10.250.77.0/24';
const READY_TIMEOUT_MS = 30_000;

export async function startContainerd(opts: { sandboxImage: string; state: HostState }): Promise<Containerd> {
  const root = join(NODE_ROOT, 'containerd');
  const stateDir = join(NODE_RUN, 'containerd');
  const socket = join(NODE_RUN, 'containerd.sock');
  const certsDir = join(NODE_ROOT, 'certs.d');
  const cniConf = join(NODE_ROOT, 'cni', 'net.d');
  const logs = join(NODE_ROOT, 'logs');
  ensureDirs(root, stateDir, certsDir, cniConf, logs);
  writeFileSync(join(cniConf, '10-fn-pinner-node-suite.conflist'), cniConfig());
  const config = join(NODE_ROOT, 'containerd.toml');
  writeFileSync(config, containerdConfig({ root, stateDir, socket, certsDir, cniConf, ...opts }));
  const log = join(logs, 'containerd.log');
  const proc = spawnLogged('containerd', ['--config', config], log, []);
  recordPid(opts.state, proc.child.pid, 'containerd');
  const ctr = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) =>
      execFile('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], (err, stdout, stderr) =>
        err ? reject(new Error(`ctr ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
      ),
    );
  await waitReady(proc, ctr);
  return {
    endpoint: `unix://${socket}`,
    socket,
    log,
    trustRegistry(host, { caPem }) {
      const dir = join(certsDir, host);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'hosts.toml'), hostsToml(host, caPem ? join(dir, 'ca.crt') : undefined));
      if (caPem) writeFileSync(join(dir, 'ca.crt'), caPem);
    },
    ctr,
    stop: () => kill(proc),
  };
}

async function waitReady(proc: Proc, ctr: (args: string[]) => Promise<string>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (exited(proc.child)) break;
    try {
      const plugins = await ctr(['plugins', 'ls']);
      const cri = plugins.split('\n').find((l) => /\bcri\b/.test(l) && l.includes('io.containerd.grpc.v1'));
      if (cri && /\bok\s*$/.test(cri)) return;
      last = `CRI plugin: ${cri?.trim() ?? 'not listed'}`;
      if (cri && /\berror\s*$/.test(cri)) break;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  const errors = readText(proc.log)
    .split('\n')
    .filter((l) => /level=(error|fatal)/.test(l));
  throw new Error(
    `containerd not ready (${last}):\n${[...errors.slice(0, 10), '…', tail(readText(proc.log), 10)].join('\n')}`,
  );
}

/** A bridge of its own with host-local addresses; no gateway, no masquerade: pods talk to nobody. */
function cniConfig(): string {
  return `${JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'fn-pinner-node-suite',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: false,
          ipMasq: false,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: CNI_SUBNET }]],
            dataDir: join(NODE_ROOT, 'cni', 'ipam'),
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

interface ConfigInputs {
  root: string;
  stateDir: string;
  socket: string;
  certsDir: string;
  cniConf: string;
  sandboxImage: string;
}

function containerdConfig(c: ConfigInputs): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${c.root}"
state = "${c.stateDir}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "${c.socket}"
[ttrpc]
  address = "${c.socket}.ttrpc"
[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "${join(c.root, 'opt')}"

[${cri}]
  sandbox_image = "${c.sandboxImage}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  max_container_log_line_size = 16384

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "${join(c.stateDir, 'runc')}"

[${cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "${c.cniConf}"

[${cri}.registry]
  config_path = "${c.certsDir}"
`;
}

function hostsToml(host: string, caFile: string | undefined): string {
  const scheme = caFile ? 'https' : 'http';
  return [
    `server = "${scheme}://${host}"`,
    '',
    `[host."${scheme}://${host}"]`,
    '  capabilities = ["pull", "resolve"]',
    ...(caFile ? [`  ca = "${caFile}"`] : []),
    '',
  ].join('\n');
}
