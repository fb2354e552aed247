/**
 * A real `fn-pinner audit` run for the README's "Auditing" section: a kube-apiserver (KUBEBUILDER_ASSETS, or
 * the build of scripts/build-kube-apiserver.sh) and a docker-registry on 127.0.0.1, the pods of the e2e
 * suite (test/support/audit-scenario.ts) created without the webhook, a tag moved; then the commands, with
 * their output and exit codes, printed as markdown. Everything is stopped at the end.
 *
 *   npx tsx scripts/audit-demo.ts > /tmp/audit-demo.md
 */
import { run } from '../src/cli/main.js';
import { FN_NS, OTHER_NS, auditScenario } from '../test/support/audit-scenario.js';
import { startKube } from '../test/support/kube.js';
import { startRegistry } from '../test/support/registry.js';

async function show(args: string[], shown: string[]): Promise<string> {
  let out = '';
  let err = '';
  const code = await run(['node', 'fn-pinner', ...args], {
    env: { HOME: '/nonexistent' },
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
  });
  return [`$ fn-pinner ${shown.join(' ')}`, `${out}${err}`.trimEnd(), `$ echo $?`, String(code)].join('\n');
}

const [kube, reg] = await Promise.all([startKube(), startRegistry('plain')]);
try {
  const scenario = await auditScenario(reg);
  for (const ns of [FN_NS, OTHER_NS]) await kube.createNamespace(ns);
  for (const pod of scenario.pods) await kube.create(pod);
  await scenario.moveTag();
  const flags = ['--insecure-registry', reg.host, '--insecure-registry', scenario.downHost];
  const admin = ['--kubeconfig', kube.kubeconfigPath, ...flags];
  const blocks = [
    await show(['audit', ...admin], ['audit']),
    await show(
      ['audit', '-A', '-l', 'tier=gate', '--json', ...admin],
      ['audit', '-A', '-l', 'tier=gate', '--json'],
    ),
    await show(
      ['audit', '-n', OTHER_NS, '--fail-on', 'drift', ...admin],
      ['audit', '-n', OTHER_NS, '--fail-on', 'drift'],
    ),
    await show(
      ['audit', '--kubeconfig', kube.userKubeconfigPath, ...flags],
      ['audit', '--kubeconfig', 'no-rbac.kubeconfig'],
    ),
  ];
  process.stdout.write(`Registry: ${reg.host} (the one that is down: ${scenario.downHost})\n\n`);
  for (const b of blocks) process.stdout.write(`\`\`\`console\n${b}\n\`\`\`\n\n`);
} finally {
  await reg.stop();
  await kube.stop();
}
