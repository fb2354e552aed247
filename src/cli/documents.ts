import { readFileSync } from 'node:fs';

import { parseAllDocuments, stringify } from 'yaml';

import { FnPinnerError } from '../errors.js';

export type Format = 'json' | 'yaml';

export interface Documents {
  format: Format;
  docs: unknown[];
}

/** JSON when the input starts like JSON, else YAML (possibly several `---` documents). */
export function parseDocuments(text: string, source: string): Documents {
  const trimmed = text.trimStart();
  if (trimmed === '') throw new FnPinnerError('BAD_REQUEST', `read ${source}: empty input`);
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return parseJson(text, source);
  return parseYaml(text, source);
}

function parseJson(text: string, source: string): Documents {
  try {
    const value: unknown = JSON.parse(text);
    return { format: 'json', docs: Array.isArray(value) ? value : [value] };
  } catch (err) {
    throw new FnPinnerError('BAD_REQUEST', `read ${source}: invalid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function parseYaml(text: string, source: string): Documents {
  const parsed = parseAllDocuments(text);
  const docs = Array.isArray(parsed) ? parsed : [parsed];
  const docsOut: unknown[] = [];
  for (const [i, doc] of docs.entries()) {
    const error = doc.errors[0];
    if (error)
      throw new FnPinnerError(
        'BAD_REQUEST',
        `read ${source}: document ${i + 1}: invalid YAML: ${error.message}`,
      );
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) docsOut.push(value);
  }
  return { format: 'yaml', docs: docsOut };
}

export function formatDocuments({ format, docs }: Documents): string {
  if (format === 'json') return `${JSON.stringify(docs.length === 1 ? docs[0] : docs, null, 2)}\n`;
  return docs.map((d) => stringify(d)).join('---\n');
}

/** The text of a file, or of stdin for '-'; `source` names it in the error. */
export function readInput(filename: string, source: string): string {
  try {
    return readFileSync(filename === '-' ? 0 : filename, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new FnPinnerError('BAD_REQUEST', `read ${source}: ${code}`, { cause: err });
  }
}
