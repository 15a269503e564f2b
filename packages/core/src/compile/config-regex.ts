import v8 from 'node:v8';
import { CaseFoldError, foldCase } from './case-fold';

/**
 * Regular expressions from configuration (route `vars` `~~`/`~*`, proxy-rewrite `regex_uri`,
 * cors `allow_origins_by_regex`) run against request data on the event loop. JavaScript's
 * engine backtracks: `^/re/(a+)+$` against 40 `a`s and a `!` would take minutes, during which
 * the node answers nothing. Every such regex is compiled here, and only patterns V8's
 * linear-time engine can run are accepted.
 *
 * How they run: with `--enable-experimental-regexp-engine-on-excessive-backtracks`, V8 runs a
 * regex on its usual backtracking engine and, once one match has backtracked
 * `--regexp-backtracks-before-fallback` times (V8's default, 50,000: about a millisecond),
 * re-runs that match on the linear-time engine — but only for a regex that engine can run. So
 * an accepted pattern costs what it costs today on ordinary input, and at most a bounded
 * number of backtracks plus a linear-time match on hostile input. (The linear engine used for
 * every match was measured 10-100x slower on ordinary routes: docs/regex.md.)
 *
 * The linear engine refuses backreferences, lookahead and lookbehind, counted repetition
 * above 16 (`a{17}`, `a{16,}`, nested counts multiplied), and the `i` flag: case-insensitive
 * patterns are rewritten with explicit case classes (case-fold.ts) and run without `i`.
 */
v8.setFlagsFromString('--enable-experimental-regexp-engine');
v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/** Why a pattern from configuration was refused; the message names the pattern and the reason. */
export class ConfigRegexError extends Error {
  override name = 'ConfigRegexError';
}

/** Whether this V8 has the linear engine (the flag above took effect). */
function linearEngineAvailable(): boolean {
  try {
    new RegExp('a', 'l');
    return true;
  } catch {
    return false;
  }
}
const LINEAR = linearEngineAvailable();

const LINEAR_LIMITS = 'backreferences, lookahead/lookbehind and counted repetition above 16 are not supported';

/**
 * Compiles a regex from configuration. `flags` is '' or 'i' (case-insensitive). Returns a
 * RegExp to use as is (its source may differ from `pattern`: case folded), or throws a
 * ConfigRegexError saying why the pattern is refused.
 */
export function compileConfigRegex(pattern: string, flags: '' | 'i' = ''): RegExp {
  if (typeof pattern !== 'string') throw new ConfigRegexError(`invalid regex: expected a string, got ${typeof pattern}`);
  if (flags !== '' && flags !== 'i') throw new ConfigRegexError(`invalid regex flags "${flags}"`);
  try {
    new RegExp(pattern, flags);
  } catch (err) {
    throw new ConfigRegexError(`invalid regex "${pattern}": ${syntaxReason(err)}`);
  }
  if (!LINEAR) {
    throw new ConfigRegexError(`invalid regex "${pattern}": this Node.js has no linear-time regex engine (V8 flag --enable-experimental-regexp-engine)`);
  }
  let source = pattern;
  if (flags === 'i') {
    try {
      source = foldCase(pattern);
    } catch (err) {
      if (err instanceof CaseFoldError) throw new ConfigRegexError(`invalid regex "${pattern}": ${err.message}`);
      throw err;
    }
  }
  try {
    new RegExp(source, 'l');
  } catch {
    throw new ConfigRegexError(`invalid regex "${pattern}": cannot run in linear time (${LINEAR_LIMITS})`);
  }
  return new RegExp(source);
}

/** The reason in V8's SyntaxError (`Invalid regular expression: /(/: Unterminated group`). */
function syntaxReason(err: unknown): string {
  const message = String((err as Error)?.message ?? err);
  return /^Invalid regular expression: \/.*\/[a-z]*: (.+)$/s.exec(message)?.[1] ?? message;
}
