/** Polling with a deadline is the only way tests wait: the one testkit implementation. */
export { waitFor } from '@portico/testkit';

/** Measure how long a promise takes to settle; resolves with the outcome either way. */
export async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = Date.now();
  try {
    const value = await p;
    return { ms: Date.now() - start, value };
  } catch (error) {
    return { ms: Date.now() - start, error };
  }
}
