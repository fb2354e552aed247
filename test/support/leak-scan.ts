/**
 * The credential-leak scan. Support helpers register the secrets they hand out (registry passwords, the
 * Basic `auth` strings of Docker configs, token-server tokens, kube-apiserver tokens) and everything of
 * fn-pinner's they capture (logs, CLI stdout and stderr, AdmissionReview answers, /metrics, /readyz,
 * what the API server relays of the webhook's answers). After each integration and e2e test file, the
 * test environment (leak-scan-environment.ts) calls scanForLeaks() and fails the file on any hit.
 *
 * Secrets shorter than MIN_SECRET_LENGTH are not scanned for: a test password such as "x" or "wrong"
 * cannot be told apart from ordinary text. Their `user:password` and base64 forms still are.
 */
export const MIN_SECRET_LENGTH = 8;

interface Capture {
  where: string;
  read: () => unknown;
}

const secrets = new Map<string, string>();
const captures: Capture[] = [];

/** Registers a secret (and returns it, for use inline); `what` names it in a report, never the value. */
export function knownSecret(value: string, what: string): string {
  if (value.length >= MIN_SECRET_LENGTH && !secrets.has(value)) secrets.set(value, what);
  return value;
}

/** A username and password, in every form they travel in: the password, `user:pass` and its base64. */
export function knownCredential(username: string, password: string, what: string): void {
  knownSecret(password, `${what} password`);
  knownSecret(`${username}:${password}`, `${what} user:password`);
  knownSecret(Buffer.from(`${username}:${password}`).toString('base64'), `${what} base64 auth`);
}

/** A JWT: the whole token and its signature (the part nobody else could produce), e.g. if it is cut short. */
export function knownToken(token: string, what: string): string {
  knownSecret(token, what);
  const signature = token.split('.')[2];
  if (signature) knownSecret(signature, `${what} (signature)`);
  return token;
}

/** Registers something fn-pinner wrote, read at scan time (so a log array can keep growing). */
export function captured(where: string, read: () => unknown): void {
  captures.push({ where, read });
}

export interface Leak {
  secret: string;
  where: string;
  /** Up to 60 characters either side, the secret itself masked. */
  context: string;
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function contextOf(haystack: string, at: number, value: string): string {
  const start = Math.max(0, at - 60);
  const around = haystack.slice(start, at + value.length + 60);
  return around.split(value).join('***');
}

/** Every registered secret found in every captured text. */
export function scanForLeaks(): Leak[] {
  const leaks: Leak[] = [];
  for (const capture of captures) {
    const haystack = text(capture.read());
    for (const [value, what] of secrets) {
      const at = haystack.indexOf(value);
      if (at >= 0)
        leaks.push({ secret: what, where: capture.where, context: contextOf(haystack, at, value) });
    }
  }
  return leaks;
}

/** For the report in docs/reliability.md: how much was scanned. */
export function leakScanCoverage(): { secrets: number; sources: number; bytes: number } {
  const bytes = captures.reduce((sum, c) => sum + Buffer.byteLength(text(c.read())), 0);
  return { secrets: secrets.size, sources: captures.length, bytes };
}

/** Drops captures registered after `mark` (see captureMark): lets the scan's own test remove what it planted. */
export function captureMark(): number {
  return captures.length;
}

export function dropCapturesSince(mark: number): void {
  captures.splice(mark);
}

export function describeLeaks(leaks: Leak[]): string {
  return [
    `credential leak scan: ${leaks.length} secret(s) found in fn-pinner's output`,
    ...leaks.map((l) => `  - ${l.secret} in ${l.where}: …${l.context}…`),
  ].join('\n');
}

/** What the test environment calls after the file's last hook (see leak-scan-environment.ts). */
export interface LeakScanHook {
  scan(): Leak[];
  coverage(): { secrets: number; sources: number; bytes: number };
  describe(leaks: Leak[]): string;
}

(globalThis as { __fnPinnerLeakScan?: LeakScanHook }).__fnPinnerLeakScan = {
  scan: scanForLeaks,
  coverage: leakScanCoverage,
  describe: describeLeaks,
};
