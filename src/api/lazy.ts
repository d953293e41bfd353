/**
 * A value built on its first use and kept. The kinds' zod schemas are built so: most processes
 * never validate a resource of most kinds (the agent validates nothing before it is ready), and
 * building every schema at load took ~30 ms of every start (docs/dataplane.md, "Cold start,
 * session 12").
 */
export function lazy<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}
