/**
 * The lab VMs' image: the kernel and initramfs `scripts/build-vm-image.sh` builds (install step)
 * into /var/cache/margay/vm ($MARGAY_VM_CACHE).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MargayError } from '../../errors/mod.ts';

/** The VM image files. */
export interface VmImage {
  kernel: string;
  initrd: string;
}

/** The folder of the image. */
export function vmCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MARGAY_VM_CACHE ?? '/var/cache/margay/vm';
}

/** The image, or MARGAY_ERR_NOT_INSTALLED naming the script that builds it. */
export function vmImage(env: NodeJS.ProcessEnv = process.env): VmImage {
  const dir = vmCacheDir(env);
  const image = { kernel: join(dir, 'vmlinux'), initrd: join(dir, 'initrd.gz') };
  for (const file of Object.values(image)) {
    if (!existsSync(file)) throw new MargayError('MARGAY_ERR_NOT_INSTALLED', `the lab's VM image is not built (${file} is missing): run scripts/install-deps.sh (it runs scripts/build-vm-image.sh)`);
  }
  return image;
}
