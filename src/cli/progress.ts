import type { Writable } from 'node:stream';

/**
 * "resolving tags 12/40" on stderr, redrawn in place, for people watching a long scan: only when stderr is
 * a terminal (never in CI logs or pipes), and only once the scan has taken longer than `delayMs`.
 */
export interface Progress {
  update(done: number, total: number): void;
  /** Clears the line if anything was drawn; safe to call twice. */
  stop(): void;
}

const CLEAR_LINE = '\r\u001b[K';

export function createProgress(stream: Writable, label: string, delayMs = 1_000, redrawMs = 250): Progress {
  if ((stream as { isTTY?: boolean }).isTTY !== true)
    return { update: () => undefined, stop: () => undefined };
  let latest = '';
  let drawn = false;
  const draw = (): void => {
    if (latest === '') return;
    stream.write(`${CLEAR_LINE}${label} ${latest}`);
    drawn = true;
  };
  let timer: NodeJS.Timeout | undefined = setTimeout(() => {
    draw();
    timer = setInterval(draw, redrawMs);
    timer.unref();
  }, delayMs);
  timer.unref();
  return {
    update(done, total) {
      latest = `${done}/${total}`;
    },
    stop() {
      clearTimeout(timer);
      clearInterval(timer);
      timer = undefined;
      if (drawn) stream.write(CLEAR_LINE);
      drawn = false;
    },
  };
}
