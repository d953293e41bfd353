/**
 * The agent's local configuration layers: the config file, the environment and the flags, read
 * once at start and handed to the settings resolver (src/calc/settings-resolver.ts), which stacks
 * them over the defaults (src/api/felix-params.ts) and the FelixConfigurations.
 *
 * Pure except {@link readConfigFile} and {@link loadLocalConfig}, which read the named file (and
 * `process.env` when no environment is given).
 */
import { readFileSync } from 'node:fs';
import { FELIX_CONFIG_FIELDS } from '../api/mod.ts';
import { PARAM_NAMES, paramNamed, PARAMS, type ParamName } from '../api/mod.ts';
import type { ConfigLayer, ConfigSource, LocalConfig } from '../calc/mod.ts';
import { MargayError } from '../errors/mod.ts';

export type { LocalConfig } from '../calc/mod.ts';

const FELIX_FIELDS_LOWER = new Set(FELIX_CONFIG_FIELDS.map((f) => f.toLowerCase()));

/**
 * Parses a config file in Felix's INI-like form (`/etc/calico/felix.cfg`):
 *
 * ```
 * # comment (also ;)
 * [global]
 * LogSeverityScreen = Debug
 * HealthPort = 9199
 * FailsafeInboundHostPorts = tcp:22, udp:68
 * ```
 *
 * Section headers are accepted and ignored; keys are parameter names, case-insensitive; values
 * may be quoted. A key that names a FelixConfiguration field Margay does not use is reported as
 * a warning; any other unknown key is an error naming the file and the line.
 */
export function parseConfigFile(text: string, file: string): { layer: ConfigLayer; warnings: string[] } {
  const values: Partial<Record<ParamName, unknown>> = {};
  const warnings: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, i) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    if (/^\[[^\]]*\]$/.test(line)) return;
    const eq = line.search(/[=:]/);
    if (eq <= 0) {
      throw new MargayError('MARGAY_ERR_CONFIG', `${file}:${i + 1}: expected "Name = value", got ${JSON.stringify(line)}`);
    }
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    const param = paramNamed(key);
    if (param === undefined) {
      if (FELIX_FIELDS_LOWER.has(key.toLowerCase())) {
        warnings.push(`${file}:${i + 1}: ${key} is a Felix parameter Margay does not use; ignored`);
        return;
      }
      throw new MargayError('MARGAY_ERR_CONFIG', `${file}:${i + 1}: unknown parameter ${JSON.stringify(key)} (see docs/agent.md for the parameters)`);
    }
    values[param] = value;
  });
  return { layer: { source: `file:${file}`, values }, warnings };
}

/** Reads and parses a config file (see {@link parseConfigFile}). */
export function readConfigFile(file: string): { layer: ConfigLayer; warnings: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new MargayError('MARGAY_ERR_CONFIG', `${file}: cannot read the agent configuration file: ${reason}`);
  }
  return parseConfigFile(text, file);
}

/**
 * The environment layers: `FELIX_<NAME>` and then `MARGAY_<NAME>` (upper-case parameter name),
 * plus each parameter's aliases (NODENAME, MARGAY_HOSTNAME for the hostname). Other variables
 * are ignored (calico/node sets many FELIX_* ones Margay does not use).
 */
export function environmentLayers(env: NodeJS.ProcessEnv): { layers: ConfigLayer[]; warnings: string[] } {
  const layers: ConfigLayer[] = [];
  const add = (name: ParamName, variable: string) => {
    const value = env[variable];
    if (value !== undefined && value !== '') layers.push({ source: `env:${variable}`, values: { [name]: value } });
  };
  for (const prefix of ['FELIX_', 'MARGAY_']) {
    for (const name of PARAM_NAMES) {
      add(name, `${prefix}${name.toUpperCase()}`);
      if (name === 'felixHostname') add(name, `${prefix}HOSTNAME`);
    }
  }
  for (const name of PARAM_NAMES) for (const variable of PARAMS[name].envAliases ?? []) add(name, variable);
  // NODENAME is Calico's; MARGAY_HOSTNAME is more specific and comes last (wins).
  layers.sort((a, b) => envRank(a.source) - envRank(b.source));
  return { layers, warnings: [] };
}

function envRank(source: ConfigSource): number {
  if (source === 'env:NODENAME') return 0;
  if (source.startsWith('env:FELIX_')) return 1;
  return 2;
}

/** The flags of `margay agent` that set parameters. */
export interface ParamFlags {
  hostname?: string;
  netns?: string;
  stateDir?: string;
}

/** Flags of `margay agent`, as layers (highest precedence). */
export function flagLayers(flags: ParamFlags): ConfigLayer[] {
  const layers: ConfigLayer[] = [];
  if (flags.hostname !== undefined) layers.push({ source: 'flag:--hostname', values: { felixHostname: flags.hostname } });
  if (flags.netns !== undefined) layers.push({ source: 'flag:--netns', values: { netns: flags.netns } });
  if (flags.stateDir !== undefined) layers.push({ source: 'flag:--state-dir', values: { stateDir: flags.stateDir } });
  return layers;
}

/** Reads the local layers: the config file (when given), the environment and the flags. */
export function loadLocalConfig(options: { configFile?: string; env?: NodeJS.ProcessEnv; flags?: ParamFlags }): LocalConfig {
  const env = options.env ?? process.env;
  const layers: ConfigLayer[] = [];
  const warnings: string[] = [];
  const file = options.configFile ?? env.MARGAY_CONFIG_FILE;
  if (file) {
    const parsed = readConfigFile(file);
    layers.push(parsed.layer);
    warnings.push(...parsed.warnings);
  }
  const fromEnv = environmentLayers(env);
  layers.push(...fromEnv.layers);
  warnings.push(...fromEnv.warnings);
  if (options.flags) layers.push(...flagLayers(options.flags));
  return { layers, warnings };
}
