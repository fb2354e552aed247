/**
 * `WWW-Authenticate` parsing (RFC 9110 §11.6.1):
 *
 *   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 *
 * Several challenges may share one header, separated by the same commas that separate parameters, so a
 * bare token not followed by "=" starts the next challenge. The parser is lenient: registries in the wild
 * send odd spacing and unquoted values, and a header we cannot fully read should still yield what it can.
 */
export interface Challenge {
  /** Lower-case: 'basic', 'bearer' or whatever else the server offered. */
  scheme: string;
  /** Parameter names lower-case, values unquoted and unescaped. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const WHITESPACE = /[ \t\r\n]/;

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text.charAt(this.pos);
  }

  skipWhitespace(): void {
    while (!this.done && WHITESPACE.test(this.peek())) this.pos++;
  }

  skipSeparators(): void {
    while (!this.done && (WHITESPACE.test(this.peek()) || this.peek() === ',')) this.pos++;
  }

  readWhile(re: RegExp): string {
    const start = this.pos;
    while (!this.done && re.test(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  readToken(): string {
    return this.readWhile(TOKEN_CHAR);
  }

  /** At the end of an item: end of input or a comma, after optional whitespace. */
  atItemEnd(): boolean {
    this.skipWhitespace();
    return this.done || this.peek() === ',';
  }
}

function readQuoted(c: Cursor): string {
  c.pos++; // opening quote
  let value = '';
  while (!c.done) {
    const ch = c.peek();
    c.pos++;
    if (ch === '"') return value;
    if (ch === '\\' && !c.done) {
      value += c.peek();
      c.pos++;
    } else {
      value += ch;
    }
  }
  return value; // unterminated: keep what we have rather than drop the challenge
}

/** Unquoted values should be tokens; accept anything up to a separator (some servers leave URLs bare). */
function readBare(c: Cursor): string {
  return c.readWhile(/[^,\s]/);
}

/** Consumes a token68 (`Negotiate abc==`) right after the scheme, if that is what follows. */
function skipToken68(c: Cursor): void {
  const start = c.pos;
  const token = c.readWhile(/[A-Za-z0-9\-._~+/]/);
  if (token !== '') {
    c.readWhile(/=/);
    if (c.atItemEnd()) return;
  }
  c.pos = start;
}

/** Reads `name=value` pairs until something that is not a parameter (the next challenge, or junk). */
function readParams(c: Cursor, params: Record<string, string>): void {
  for (;;) {
    const start = c.pos;
    c.skipSeparators();
    const name = c.readToken();
    c.skipWhitespace();
    if (name === '' || c.peek() !== '=') {
      c.pos = start;
      return;
    }
    c.pos++; // '='
    c.skipWhitespace();
    const value = c.peek() === '"' ? readQuoted(c) : readBare(c);
    const key = name.toLowerCase();
    // RFC 9110: each parameter name occurs once per challenge; keep the first if a server repeats one.
    if (!Object.hasOwn(params, key)) params[key] = value;
  }
}

function parseOne(header: string): Challenge[] {
  const c = new Cursor(header);
  const challenges: Challenge[] = [];
  while (!c.done) {
    c.skipSeparators();
    if (c.done) break;
    const scheme = c.readToken();
    if (scheme === '') {
      c.pos++; // junk character: skip it so one bad byte does not hide later challenges
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    c.skipWhitespace();
    skipToken68(c);
    readParams(c, challenge.params);
  }
  return challenges;
}

/**
 * Parses one or more `WWW-Authenticate` header values (undici gives a string, or an array when the header
 * was repeated) into challenges, in the order the server listed them. Never throws.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  return values.flatMap((value) => parseOne(value));
}
