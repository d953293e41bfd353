/**
 * One lab VM's QEMU: the microvm machine with software emulation (KVM does not run nested here;
 * its PIT and PIC must be on, or the kernel hangs calibrating its TSC under TCG), the TSC's
 * frequency given to the kernel (see {@link hostTscKhz}), and a direct PVH kernel boot, its NIC on a tap of its host's namespace, its serial console on a
 * unix socket (with a log file of everything it printed).
 */
import { existsSync, readFileSync } from 'node:fs';
import { MargayError } from '../../errors/mod.ts';
import type { VmImage } from './image.ts';

/** The QEMU binary. */
export const QEMU = '/usr/bin/qemu-system-x86_64';

/** What one VM needs. */
export interface QemuSpec {
  name: string;
  image: VmImage;
  tap: string;
  mac: string;
  /** The console's unix socket. */
  consoleSocket: string;
  /** Everything the console printed. */
  consoleLog: string;
  /** Memory in MiB (default 128). */
  memoryMiB?: number;
  /** The guest's TSC frequency in kHz (`tsc_early_khz=`), see {@link hostTscKhz}. */
  tscKhz: number;
}

/** Used when the host's frequency cannot be read: only the guest clock's rate depends on it. */
export const FALLBACK_TSC_KHZ = 2_000_000;

/**
 * The kHz of the first `cpu MHz` line of /proc/cpuinfo text (pure); undefined without one.
 * On the hosts the lab runs on (VMs, invariant TSC) it is the TSC's frequency.
 */
export function parseCpuKhz(cpuinfo: string): number | undefined {
  const m = /^cpu MHz\s*:\s*([0-9]+(?:\.[0-9]+)?)/m.exec(cpuinfo);
  const khz = m ? Math.round(Number(m[1]) * 1000) : 0;
  return khz > 0 ? khz : undefined;
}

/**
 * The TSC frequency for the guest kernel. Under TCG the guest's TSC is the host's, and the kernel
 * calibrates it against the emulated PIT over a few ms of wall time: on a loaded machine the
 * emulation is descheduled meanwhile, calibration fails ("Unable to calibrate against PIT",
 * "Marking TSC unstable") and the boot hangs silently. Given `tsc_early_khz` it skips that
 * calibration (and derives `lpj` from it). A wrong value only makes the guest's clock run fast or slow.
 */
export function hostTscKhz(cpuinfoPath = '/proc/cpuinfo'): number {
  try {
    return parseCpuKhz(readFileSync(cpuinfoPath, 'utf8')) ?? FALLBACK_TSC_KHZ;
  } catch {
    return FALLBACK_TSC_KHZ;
  }
}

/** QEMU's command line for `spec` (pure). */
export function qemuArgs(spec: QemuSpec): string[] {
  return [
    '-name', spec.name,
    '-M', 'microvm,rtc=on,pit=on,pic=on',
    // A smaller translation cache: ~100 MB less resident memory per VM.
    '-accel', 'tcg,tb-size=64',
    '-cpu', 'max',
    '-m', String(spec.memoryMiB ?? 128),
    '-smp', '1',
    '-kernel', spec.image.kernel,
    '-initrd', spec.image.initrd,
    // loglevel=6 (not quiet): the kernel banner reaches the console as soon as it is up, the
    // boot watchdog's sign of life (boot-watchdog.ts); ~20 lines more than quiet.
    '-append', `console=ttyS0 loglevel=6 panic=-1 tsc_early_khz=${spec.tscKhz} margay.name=${spec.name}`,
    '-nodefaults', '-no-reboot', '-display', 'none',
    '-chardev', `socket,id=con0,path=${spec.consoleSocket},server=on,wait=off,logfile=${spec.consoleLog}`,
    '-serial', 'chardev:con0',
    '-netdev', `tap,id=n0,ifname=${spec.tap},script=no,downscript=no`,
    '-device', `virtio-net-device,netdev=n0,mac=${spec.mac}`,
  ];
}

/** Throws MARGAY_ERR_NOT_INSTALLED without QEMU. */
export function requireQemu(): void {
  if (!existsSync(QEMU)) throw new MargayError('MARGAY_ERR_NOT_INSTALLED', `lab VMs need ${QEMU} (Debian package qemu-system-x86): run scripts/install-deps.sh`);
}
