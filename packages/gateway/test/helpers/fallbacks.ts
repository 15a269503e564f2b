import { chooseClient } from '../../src/server/http-stack';

/**
 * Whether this run sends upstream requests through undici, the fallback client
 * (`PORTICO_UPSTREAM_CLIENT=undici`, or a Node.js without the parser binding). make test runs
 * the proxy suites once that way. Where undici deliberately behaves differently (its limits,
 * docs/http.md "Fallbacks"), the own client's case runs only on the own client and a test of
 * undici's documented behaviour runs only on undici.
 */
export const onUndiciFallback = chooseClient(undefined) === 'undici';

/** A case the own upstream client passes and the undici fallback, by design, does not. */
export const ownClientOnly: jest.It = onUndiciFallback ? it.skip : it;

/** A case that pins the undici fallback's documented behaviour (skipped on the own client). */
export const undiciFallbackOnly: jest.It = onUndiciFallback ? it : it.skip;
