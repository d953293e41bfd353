/**
 * Clean-up that always runs: a resource registers a synchronous undo, which runs when the
 * process exits (even after failed assertions or an uncaught error) and on SIGINT, SIGTERM and
 * SIGHUP, unless the test already ran it. Each undo runs at most once.
 *
 * Why not node:test's `after` from inside a helper: on Node 20, `after()` called inside a
 * `before` hook attaches to that hook and runs as soon as the hook ends. Register hooks at
 * definition time instead (see `useEtcd` in etcd.ts).
 */

type Undo = () => void;

const pending = new Map<number, Undo>();
let nextId = 1;
let hooked = false;

function runAll(): void {
  for (const [id, undo] of [...pending].reverse()) {
    pending.delete(id);
    try {
      undo();
    } catch {
      // best effort: keep cleaning up the rest
    }
  }
}

function hookProcess(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      runAll();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/**
 * Registers `undo` (synchronous) to run at exit or on a signal. Returns a function that runs it
 * now, once, and unregisters it.
 */
export function registerCleanup(undo: Undo): () => void {
  hookProcess();
  const id = nextId++;
  pending.set(id, undo);
  return () => {
    if (pending.delete(id)) undo();
  };
}
