import v8 from 'node:v8';

/**
 * V8 settings for every Portico process, applied before the first upstream connection.
 *
 * `--liftoff-only`: undici (the fallback upstream client, pools.ts) parses HTTP with llhttp compiled to WebAssembly. After the first few
 * responses V8 re-compiles its one large parser function with TurboFan in the background, which
 * takes ~35 MB of compiler memory for a moment (the node's peak RSS) and leaves ~9–12 MB more
 * resident for good. Measured (bench/README.md, "Memory"): the same undici client with and
 * without the tier-up does the same requests/s and CPU per request within this machine's noise
 * (the parser is ~1 % of a proxied request's CPU), so the baseline Liftoff code is kept.
 * The flag only concerns WebAssembly; JavaScript is still optimised as usual.
 */
export function applyV8Flags(): void {
  v8.setFlagsFromString('--liftoff-only');
}
