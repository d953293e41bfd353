/**
 * One lab VM's QEMU: the microvm machine with software emulation (KVM does not run nested here;
 * its PIT and PIC must be on, or the kernel hangs calibrating its TSC under TCG)
 * and a direct PVH kernel boot, its NIC on a tap of its host's namespace, its serial console on a
 * unix socket (with a log file of everything it printed).
 */
import { existsSync } from 'node:fs';
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
    '-append', `console=ttyS0 quiet panic=-1 margay.name=${spec.name}`,
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
