/**
 * The lab's container images, built locally because no registry is reachable: `pause` (our static
 * sandbox binary, native/pause.c) and `busybox` (Debian's static /bin/busybox with its applets
 * linked, plus our static `serve`, native/pod-serve.c, the pods' TCP/UDP server). Each becomes an
 * OCI image layout in a tar archive (one uncompressed layer, its config, a manifest and an index
 * carrying containerd's `io.containerd.image.name`), imported into a host's containerd with
 * `ctr images import` in the `k8s.io` namespace the CRI plugin uses. Pods name them with
 * `imagePullPolicy: Never`.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../os/mod.ts';
import { builtFile, IMAGES } from './paths.ts';

/** Applets linked in the busybox image (`/bin/<name>` → busybox). */
const APPLETS = ['sh', 'cat', 'echo', 'env', 'hostname', 'httpd', 'ip', 'ls', 'nc', 'ping', 'ps', 'sleep', 'wget'];
const BUSYBOX = '/bin/busybox';

/** One file system tree to pack into an image. */
interface ImageSpec {
  name: string;
  /** Fills the root folder. */
  fill: (root: string) => void;
  cmd: string[];
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A reproducible tar of a folder: sorted names, root-owned, time zero, so the digests never change. */
async function tarFolder(folder: string, out: string): Promise<Buffer> {
  await exec('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', folder, '-cf', out, '.']);
  return readFileSync(out);
}

/** Writes the OCI layout of one image into `dir` and packs it as `<dir>.tar`; returns the archive. */
async function buildImage(dir: string, spec: ImageSpec): Promise<string> {
  rmSync(dir, { recursive: true, force: true });
  const root = join(dir, 'rootfs');
  const layout = join(dir, 'oci');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(root, { recursive: true });
  mkdirSync(blobs, { recursive: true });
  spec.fill(root);
  const layer = await tarFolder(root, join(dir, 'layer.tar'));
  const blob = (data: Buffer): { digest: string; size: number } => {
    const hex = sha256(data);
    writeFileSync(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const layerRef = blob(layer);
  const config = blob(Buffer.from(JSON.stringify({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
    os: 'linux',
    config: { Cmd: spec.cmd, Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: [layerRef.digest] },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerRef }],
  })));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...manifest,
      annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': spec.name },
    }],
  }));
  const archive = `${dir}.tar`;
  await tarFolder(layout, archive);
  return archive;
}

function fillPause(root: string): void {
  copyFileSync(builtFile('images/pause'), join(root, 'pause'));
}

function fillBusybox(root: string): void {
  for (const d of ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'www']) mkdirSync(join(root, d), { mode: d === 'tmp' ? 0o1777 : 0o755 });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
  copyFileSync(builtFile('images/serve'), join(root, 'bin', 'serve'));
  writeFileSync(join(root, 'www', 'index.html'), 'margay lab\n');
}

/** Builds both images under `dir`; returns their archives. */
export async function buildLabImages(dir: string): Promise<string[]> {
  const specs: ImageSpec[] = [
    { name: IMAGES.pause, fill: fillPause, cmd: ['/pause'] },
    { name: IMAGES.busybox, fill: fillBusybox, cmd: ['sh'] },
  ];
  const archives: string[] = [];
  for (const spec of specs) archives.push(await buildImage(join(dir, spec.name.split('/').pop()!.replace(':', '-')), spec));
  return archives;
}

/**
 * Imports image archives into the containerd at `socket` (namespace k8s.io, where the CRI looks).
 * `ctr` dies with the process that runs it (`setpriv --pdeathsig`): a `lab up` killed meanwhile
 * would otherwise leave it waiting on a containerd that `lab down` stops, for ever.
 */
export async function importImages(socket: string, archives: string[]): Promise<void> {
  for (const archive of archives) {
    await exec('setpriv', ['--pdeathsig', 'KILL', '--', 'ctr', '-a', socket, '-n', 'k8s.io', 'images', 'import', archive], { timeoutMs: 120_000 });
  }
}
