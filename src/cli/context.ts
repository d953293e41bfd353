/**
 * What every command gets: a lazily opened ResourceStore (commands that need no datastore never
 * connect), and the two output streams, injectable so tests can capture them.
 */
import type { Datastore } from '../datastore/mod.ts';
import { createDatastore } from '../datastore/mod.ts';
import { ResourceStore } from '../datastore/mod.ts';
import { loadClientConfig } from './config.ts';

/** Streams and datastore access of one CLI run. */
export interface CliContext {
  /** Opens (once) the configured datastore. */
  store(): Promise<ResourceStore>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Closes the datastore if it was opened. */
  close(): Promise<void>;
}

/** Options of createCliContext. */
export interface CliContextOptions {
  configFile?: () => string | undefined;
  env?: NodeJS.ProcessEnv;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Use this datastore instead of the configured one (tests); it is not closed by the CLI. */
  datastore?: Datastore;
}

/** Builds the context of one CLI run. */
export function createCliContext(options: CliContextOptions = {}): CliContext {
  let store: ResourceStore | undefined;
  return {
    async store() {
      if (!store && options.datastore) store = new ResourceStore(options.datastore);
      if (!store) {
        const config = loadClientConfig({ configFile: options.configFile?.(), env: options.env });
        store = new ResourceStore(createDatastore(config));
      }
      return store;
    },
    stdout: options.stdout ?? ((t) => process.stdout.write(t)),
    stderr: options.stderr ?? ((t) => process.stderr.write(t)),
    async close() {
      if (!options.datastore) await store?.datastore.close();
      store = undefined;
    },
  };
}
