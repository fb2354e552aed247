import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';

import { createLogger } from '../../src/logging.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _e, cb): void {
      text += chunk.toString();
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
  };
}

describe('createLogger', () => {
  it('redacts credentials wherever our code could log them', () => {
    const out = capture();
    const log = createLogger({ level: 'info' }, out.stream);
    log.info({
      password: 'p1',
      auth: 'dXNlcjpwYXNz',
      token: 't1',
      authorization: 'Bearer t2',
      headers: { authorization: 'Basic xyz' },
      credential: { username: 'u', password: 'p2', identityToken: 'i1', registryToken: 'r1' },
      data: { '.dockerconfigjson': 'e30=' },
      secret: { data: { '.dockerconfigjson': 'e30=' } },
      '.dockerconfigjson': 'e30=',
    });
    const text = JSON.stringify(out.lines()[0]);
    for (const secret of ['p1', 'dXNlcjpwYXNz', 't1', 't2', 'xyz', 'p2', 'i1', 'r1', 'e30=']) {
      expect(text).not.toContain(secret);
    }
    expect(out.lines()[0]).toMatchObject({ credential: { username: 'u', password: '[Redacted]' } });
  });

  it('writes the level as a label and an ISO time', () => {
    const out = capture();
    createLogger({ level: 'info' }, out.stream).warn('hello');
    expect(out.lines()[0]).toMatchObject({
      level: 'warn',
      msg: 'hello',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });
});
