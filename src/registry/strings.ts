/**
 * A string that owns its characters: V8 may return parts of a parsed document as slices that keep the whole
 * document alive, and what the cache keeps must not pin the blobs it came from.
 */
export function own(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

/** Platform words are few; keep one copy of each rather than one per cached image. */
const WORDS = new Map<string, string>();
export function word(s: string): string {
  const known = WORDS.get(s);
  if (known !== undefined) return known;
  if (WORDS.size < 256 && s.length <= 32) WORDS.set(s, s);
  return s;
}
