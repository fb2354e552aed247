// The slice of autocannon 9's programmatic API that bench/admission.ts uses (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';
  import type { ConnectionOptions } from 'node:tls';

  export interface Options {
    url: string;
    method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD';
    headers?: Record<string, string>;
    body?: string | Buffer;
    connections?: number;
    pipelining?: number;
    /** Seconds. */
    duration?: number;
    /** Seconds. */
    timeout?: number;
    /** Requests per second per connection. */
    connectionRate?: number;
    /** Requests per second over all connections. */
    overallRate?: number;
    /** Replaces `[<id>]` in the body with a fresh id on every request. */
    idReplacement?: boolean;
    /** Counted as a mismatch when it returns false. */
    verifyBody?: (body: string) => boolean;
    /** autocannon 9 spreads these into tls.connect() and then sets rejectUnauthorized: false regardless. */
    tlsOptions?: ConnectionOptions;
    servername?: string;
  }

  export interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total?: number;
    p50: number;
    p90: number;
    p99: number;
    p99_9: number;
    [percentile: string]: number | undefined;
  }

  export interface Result {
    duration: number;
    errors: number;
    timeouts: number;
    mismatches: number;
    non2xx: number;
    resets: number;
    '2xx': number;
    statusCodeStats: Record<string, { count: number }>;
    /** Milliseconds, recorded as integers (1 ms resolution). */
    latency: Histogram;
    requests: Histogram & { sent: number };
    throughput: Histogram;
  }

  export interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void;
  }

  export default function autocannon(opts: Options): Instance;
}
