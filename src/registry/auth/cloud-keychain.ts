import type { Logger } from '../../logging.js';
import { splitHostPort } from '../../reference/host.js';
import type { ImageReference } from '../../reference/reference.js';
import { raceTimeout } from '../../util/timeout.js';
import type { CallContext } from './context.js';
import type { Credential, Keychain, KeychainLookup } from './credentials.js';

/** What a provider hands back: a credential and when it stops working, or why there is none here. */
export type ProviderAnswer = { credential: Credential; expiresAt: number } | { absent: string };

/**
 * One cloud provider's registry credentials (src/sources/cloud/): which registry hosts it serves, and
 * how to get a credential for one. `fetch` loads the provider's SDK on first use, so a process that never
 * resolves an image from its hosts never loads it.
 */
export interface TokenProvider {
  /** For logs and denials: `Google Application Default Credentials`. */
  readonly name: string;
  /** Whether the registry host (without port) is one of the provider's; no I/O. */
  serves(hostname: string): boolean;
  /** Credentials are cached per key: one for Google, one per region for ECR. */
  keyOf(hostname: string): string;
  /** `absent` when the provider is not available here (no metadata server, no credentials). */
  fetch(key: string): Promise<ProviderAnswer>;
}

export interface CloudKeychainOptions {
  /** Longest a resolution waits for a provider; a fetch still running after that may fill the cache. */
  waitMs: number;
  /** A provider found absent is not asked again for this long. */
  absentMemoryMs: number;
  /** A provider that failed (an error, not absence) is not asked again for this long. */
  failureBackoffMs: number;
  /** Refresh this long before expiry (at most half the credential's lifetime). */
  refreshMarginMs: number;
  log: Logger;
  now?: () => number;
}

type Entry =
  | { kind: 'token'; credential: Credential; expiresAt: number; refreshAt: number }
  | { kind: 'absent' | 'failed'; why: string; until: number };

/**
 * The default keychain's cloud-provider credentials. Each (provider, key) is fetched once at a time (single
 * flight), kept until shortly before it expires, and refreshed by the first resolution that needs it after
 * that; an absent or failing provider is remembered and skipped, so a review never waits on it again for a
 * while. A resolution waits at most `waitMs`: a slow provider costs one review that much, once.
 */
export class CloudKeychain implements Keychain {
  private readonly entries = new Map<string, Entry>();
  private readonly flights = new Map<string, Promise<Entry>>();
  private readonly now: () => number;

  constructor(
    private readonly providers: readonly TokenProvider[],
    private readonly opts: CloudKeychainOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  async lookup(ref: ImageReference, ctx: CallContext): Promise<KeychainLookup> {
    const { hostname } = splitHostPort(ref.registry);
    const serving = this.providers.filter((p) => p.serves(hostname));
    const found = await Promise.all(serving.map((p) => this.credential(p, p.keyOf(hostname), ctx)));
    return {
      credentials: found.flatMap((f) => (f.credential ? [f.credential] : [])),
      consulted: found.map((f) => f.note),
    };
  }

  private async credential(
    provider: TokenProvider,
    key: string,
    ctx: CallContext,
  ): Promise<{ credential?: Credential; note: string }> {
    const id = `${provider.name}|${key}`;
    const entry = this.entries.get(id);
    const now = this.now();
    if (entry && now < (entry.kind === 'token' ? entry.refreshAt : entry.until)) {
      return this.answer(provider, entry);
    }
    const flight = this.flight(provider, key, id);
    const wait = Math.max(0, Math.min(this.opts.waitMs, ctx.deadline - now));
    const outcome = await raceTimeout(flight, wait);
    if (outcome.done) return this.answer(provider, outcome.value);
    // Still usable while the refresh runs late; otherwise this review goes on without the provider.
    if (entry?.kind === 'token' && now < entry.expiresAt) return this.answer(provider, entry);
    return { note: `${provider.name}: no answer within ${wait} ms` };
  }

  private answer(provider: TokenProvider, entry: Entry): { credential?: Credential; note: string } {
    if (entry.kind === 'token') return { credential: entry.credential, note: entry.credential.source };
    return {
      note: `${provider.name}: ${entry.kind === 'absent' ? 'not available' : 'failed'} (${entry.why})`,
    };
  }

  private flight(provider: TokenProvider, key: string, id: string): Promise<Entry> {
    const running = this.flights.get(id);
    if (running) return running;
    const started = this.now();
    const p = provider
      .fetch(key)
      .then((a) => this.store(provider, id, a, started))
      .catch((err: unknown) => this.failed(provider, id, err))
      .finally(() => this.flights.delete(id));
    this.flights.set(id, p);
    return p;
  }

  private store(provider: TokenProvider, id: string, a: ProviderAnswer, started: number): Entry {
    const now = this.now();
    let entry: Entry;
    if ('absent' in a) {
      entry = { kind: 'absent', why: a.absent, until: now + this.opts.absentMemoryMs };
      if (this.entries.get(id)?.kind !== 'absent')
        this.opts.log.info(
          { provider: provider.name, reason: a.absent },
          'cloud credentials: provider not available',
        );
    } else {
      const margin = Math.min(this.opts.refreshMarginMs, (a.expiresAt - started) / 2);
      entry = {
        kind: 'token',
        credential: a.credential,
        expiresAt: a.expiresAt,
        refreshAt: a.expiresAt - margin,
      };
    }
    this.entries.set(id, entry);
    return entry;
  }

  private failed(provider: TokenProvider, id: string, err: unknown): Entry {
    const why = err instanceof Error ? err.message.slice(0, 300) : String(err).slice(0, 300);
    this.opts.log.warn({ provider: provider.name, err: why }, 'cloud credentials: provider failed');
    const previous = this.entries.get(id);
    const retryAt = this.now() + this.opts.failureBackoffMs;
    // A refresh that failed keeps the credential it had while that still works, and is retried later.
    if (previous?.kind === 'token' && this.now() < previous.expiresAt) {
      const kept: Entry = { ...previous, refreshAt: Math.min(previous.expiresAt, retryAt) };
      this.entries.set(id, kept);
      return kept;
    }
    const entry: Entry = { kind: 'failed', why, until: retryAt };
    this.entries.set(id, entry);
    return entry;
  }
}
