/**
 * A CommonJS package imported with `import()`: Node (and tsx, jest) give its exports by name and as
 * `default`; esbuild's lazily loaded chunks (scripts/bundle.ts) give them as `default` only. Both forms
 * have everything on `default` when it is there.
 */
export function exportsOf<T extends object>(mod: T): T {
  const all = (mod as { default?: unknown }).default;
  return (all !== null && typeof all === 'object' ? all : mod) as T;
}
