import type { WatchCallbacks, WatchEvent } from '../../src/store/types';
import { waitFor } from './wait-for';

/** WatchCallbacks that record everything delivered, for assertions. */
export class WatchRecorder implements WatchCallbacks {
  readonly batches: { events: WatchEvent[]; revision: number }[] = [];
  readonly resets: Error[] = [];

  onEvents = (events: WatchEvent[], revision: number): void => {
    this.batches.push({ events, revision });
  };

  onReset = (reason: Error): void => {
    this.resets.push(reason);
  };

  get events(): WatchEvent[] {
    return this.batches.flatMap((b) => b.events);
  }

  /** Compact view for toEqual: `put key=value@mod` / `delete key@mod`. */
  get summary(): string[] {
    return this.events.map((e) =>
      e.type === 'put' ? `put ${e.kv.key}=${e.kv.value}@${e.kv.modRevision}` : `delete ${e.key}@${e.modRevision}`);
  }

  async waitForEvents(count: number, timeoutMs = 10_000): Promise<WatchEvent[]> {
    await waitFor(() => this.events.length >= count, { timeoutMs, what: `${count} watch events (have ${this.events.length})` });
    return this.events;
  }

  async waitForReset(timeoutMs = 10_000): Promise<Error> {
    return waitFor(() => this.resets[0], { timeoutMs, what: 'onReset' });
  }
}

export function eventKey(e: WatchEvent): string {
  return e.type === 'put' ? e.kv.key : e.key;
}
