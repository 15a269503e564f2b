import v8 from 'node:v8';

/**
 * V8 settings for every Portico process, applied before the first upstream connection.
 *
 * `--liftoff-only`: undici (the fallback upstream client, pools.ts) parses HTTP with llhttp compiled to WebAssembly. After the first few
 * responses V8 re-compiles its one large parser function with TurboFan in the background, which
 * takes ~35 MB of compiler memory for a moment (the node's peak RSS) and leaves ~9–12 MB more
 * resident for good. Measured (docs/performance.md, "--liftoff-only"): the same undici client
 * with and without the tier-up does the same requests/s and CPU per request within this
 * machine's noise (the parser is ~1 % of a proxied request's CPU), so the baseline Liftoff code
 * is kept.
 * The flag only concerns WebAssembly; JavaScript is still optimised as usual.
 */
export function applyV8Flags(): void {
  v8.setFlagsFromString('--liftoff-only');
}

/**
 * Node flags Portico is started with: by `make run` and the main.js shebang (command line), the
 * container image (NODE_OPTIONS) and the benches. V8 sizes its heap when the process starts, so
 * these cannot be applied from inside like `applyV8Flags`; forked workers inherit them.
 *
 * `--max-semi-space-size=32`: the young generation may grow to 32 MB semi-spaces (node's default
 * is 16 MB). V8 doubles it once the bytes that survived scavenges since its last growth add up
 * to its size: under sustained load after tens of seconds to minutes (fewer at higher rates; in the
 * benches, 20–60 s at 8–10k req/s after start-up). Every young-generation
 * collection (~0.7–1 ms) delays the requests arriving during it; at 10k req/s with key-auth there
 * were ~39 per 10 s with 16 MB and ~19 with 32 MB, each as long as before. At rest idle-gc.ts
 * shrinks it back: with 10k routes, 104.0 MB at rest (101.5 MB without), 158 MB at the peak of a
 * load run (134 MB). Measurements: docs/performance.md, "The young generation".
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];

/** Of NODE_FLAGS, those (by name, any value) this process was started without, on its command line or in NODE_OPTIONS. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  // V8 takes --max-semi-space-size and --max_semi_space_size alike.
  const nameOf = (flag: string) => flag.split('=')[0].replace(/_/g, '-');
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter((a) => a.startsWith('--')).map(nameOf));
  return NODE_FLAGS.filter((f) => !given.has(nameOf(f)));
}
