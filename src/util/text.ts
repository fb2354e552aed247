/**
 * Text that came from outside (registry error bodies, image references, platform lists) is quoted in
 * messages only up to a bound, so a hostile registry or pod cannot blow up status messages, warnings,
 * annotations or log lines.
 */

/** Quoted text: JSON-quoted and cut at `max` characters with an ellipsis and the original length. */
export function quote(text: string, max = 200): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}… (${text.length} characters)`;
}

/** Cuts plain text at `max` characters, marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A message line bounded in UTF-8 bytes (status.message, warnings, one stderr line): at most `maxBytes`. */
export function boundLine(text: string, maxBytes = 2000): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let cut = text.slice(0, maxBytes);
  while (Buffer.byteLength(cut) > maxBytes - 20) cut = cut.slice(0, -64);
  return `${cut}… (truncated)`;
}

/** At most `max` items, then "and N more". */
export function listSome(items: readonly string[], max = 10): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
