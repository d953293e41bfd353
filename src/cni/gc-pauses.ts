/**
 * V8's garbage collection pauses, remembered for a moment, so that an ADD's or DEL's log line can
 * say how much of it the collector took (`gcMs`): a pause inside an operation is one of the things
 * that make its latency's tail (docs/cni.md, sessions 11 and 12). Node reports each pause to a
 * PerformanceObserver shortly after it happened; a log line is written after the answer, by when
 * the operation's pauses have mostly been reported.
 */
import { PerformanceObserver } from 'node:perf_hooks';

/** The pauses kept (the newest); a few seconds of a busy agent's. */
const KEPT = 64;

/** Recent GC pauses; {@link GcPauses.within} sums those inside a time range. */
export class GcPauses {
  readonly #starts = new Float64Array(KEPT);
  readonly #durations = new Float64Array(KEPT);
  #next = 0;
  readonly #observer: PerformanceObserver;

  constructor() {
    this.#observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.note(e.startTime, e.duration);
    });
    this.#observer.observe({ entryTypes: ['gc'] });
  }

  /** Records a pause (`performance.now()` time and ms); the observer's entries come here. */
  note(start: number, ms: number): void {
    this.#starts[this.#next % KEPT] = start;
    this.#durations[this.#next % KEPT] = ms;
    this.#next++;
  }

  /** Milliseconds of pauses that started within [from, to] (`performance.now()` times), among those kept. */
  within(from: number, to: number): number {
    let ms = 0;
    for (let i = Math.max(0, this.#next - KEPT); i < this.#next; i++) {
      const start = this.#starts[i % KEPT]!;
      if (start >= from && start <= to) ms += this.#durations[i % KEPT]!;
    }
    return Math.round(ms * 10) / 10;
  }

  /** Stops observing. */
  close(): void {
    this.#observer.disconnect();
  }
}
