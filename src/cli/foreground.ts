/**
 * Long-lived commands (`controllers`, `kube-controllers`): the process lives until SIGTERM or
 * SIGINT asks the running service to stop, then returns once it has.
 */

/** Something that runs until stopped. */
export interface Stoppable {
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

/** Waits for `running` to finish; SIGTERM and SIGINT stop it. */
export async function runInForeground(running: Stoppable): Promise<void> {
  const keepAlive = setInterval(() => {}, 1 << 30); // the process lives until a signal
  const onSignal = (): void => void running.stop();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await running.done;
  } finally {
    clearInterval(keepAlive);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  }
}
