/**
 * Listeners called in registration order; one that throws is reported to `onError` and does
 * not stop the others (a failing table update must not starve the metrics or the heartbeat).
 */
export class ListenerSet<A extends unknown[]> {
  private readonly listeners: Array<(...args: A) => void> = [];

  constructor(private readonly onError: (err: unknown) => void) {}

  get size(): number {
    return this.listeners.length;
  }

  /** Returns the unsubscribe function. */
  add(listener: (...args: A) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(...args: A): void {
    for (const l of [...this.listeners]) {
      try {
        l(...args);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
