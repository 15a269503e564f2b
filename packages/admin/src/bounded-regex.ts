import vm from 'node:vm';

/**
 * Regular expressions from a request (the `name`/`uri` list filters) run here, in a vm context
 * with a time limit. JavaScript's engine backtracks, so a pattern like `(a+)+(?=!)$` can take
 * exponential time on a 256-character name and would freeze the process — which in the
 * traditional role also serves proxy traffic. V8 can interrupt a running regex; vm's `timeout`
 * does exactly that, and the caller gets an error instead of a hang. (Patterns V8's
 * linear-time engine can run, like `(a+)+$`, are re-run on it after 50,000 backtracks: core's
 * config-regex turns that on for the whole process. The time limit is for the others.)
 */

export const REGEX_TIME_LIMIT_MS = 100;

export class RegexError extends Error {
  override name = 'RegexError';
}

const context = vm.createContext(Object.create(null));
// Runs inside the context: one compile, then a test per subject list (any subject matching).
const script = new vm.Script(`(() => {
  const re = new RegExp(input.pattern);
  return input.subjects.map((list) => list.some((s) => re.test(s)));
})()`);

/**
 * For each list of subjects, whether the pattern matches any of them (unanchored search, like
 * APISIX's `ngx.re.find`). Throws RegexError for an invalid pattern or one that runs too long.
 */
export function matchEach(pattern: string, subjects: readonly (readonly string[])[], timeLimitMs = REGEX_TIME_LIMIT_MS): boolean[] {
  // The pattern is data, never code: it reaches the context as a property value.
  context.input = { pattern, subjects };
  try {
    return [...(script.runInContext(context, { timeout: timeLimitMs }) as boolean[])];
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      throw new RegexError(`the regular expression took longer than ${timeLimitMs} ms`);
    }
    // A SyntaxError from the context's RegExp: not an instance of this realm's SyntaxError.
    throw new RegexError(String((err as Error)?.message ?? err));
  } finally {
    context.input = undefined;
  }
}
