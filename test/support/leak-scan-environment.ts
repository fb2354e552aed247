import { appendFileSync } from 'node:fs';
import { basename } from 'node:path';

import type { Circus } from '@jest/types';
import { TestEnvironment } from 'jest-environment-node';
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';

import type { LeakScanHook } from './leak-scan.js';

/**
 * The node environment plus the credential-leak scan (leak-scan.ts) at `run_finish`, which comes after
 * the test file's last afterAll: servers have been stopped and their final /metrics captured. A hit fails
 * the file. FN_PINNER_LEAK_SCAN_REPORT=<file> appends one JSON line per file with what was scanned.
 */
export default class LeakScanEnvironment extends TestEnvironment {
  private readonly file: string;

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    this.file = context.testPath;
  }

  async handleTestEvent(event: Circus.Event, state: Circus.State): Promise<void> {
    if (event.name !== 'run_finish') return;
    const hook = (this.global as { __fnPinnerLeakScan?: LeakScanHook }).__fnPinnerLeakScan;
    if (!hook) return;
    const leaks = hook.scan();
    const report = process.env.FN_PINNER_LEAK_SCAN_REPORT;
    if (report) {
      const line = { file: basename(this.file), ...hook.coverage(), leaks: leaks.length };
      appendFileSync(report, `${JSON.stringify(line)}\n`);
    }
    if (leaks.length > 0) state.unhandledErrors.push(new Error(hook.describe(leaks)));
  }
}
