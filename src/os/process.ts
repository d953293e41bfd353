/**
 * Whether a process exists, asked of the kernel with signal 0 (nothing is sent). EPERM means it
 * exists but belongs to someone else — still alive.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
