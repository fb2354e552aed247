/**
 * Races work against a timer that is always cleared, so a settled race leaves no timer behind. The work is
 * not cancelled: callers that can abort it pass it a signal of their own.
 */
export type Raced<T> = { done: true; value: T } | { done: false };

export async function raceTimeout<T>(work: Promise<T>, ms: number): Promise<Raced<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Raced<T>>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), ms);
  });
  try {
    return await Promise.race([work.then((value): Raced<T> => ({ done: true, value })), late]);
  } finally {
    clearTimeout(timer);
  }
}
