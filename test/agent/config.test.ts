import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { environmentLayers, flagLayers, loadLocalConfig, parseConfigFile } from '../../src/agent/config.ts';
import { convertValue, defaultConfig, parseDuration, parseFailsafeText } from '../../src/api/felix-params.ts';
import { felixConfigurationLayer, resolveConfig, SettingsResolver } from '../../src/calc/settings-resolver.ts';
import { hasCode } from '../../src/errors/mod.ts';

describe('agent config - values', () => {
  it('parses Go durations and bare seconds', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('2.5'), 2500);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('90x'), undefined);
    assert.equal(parseDuration('s90'), undefined);
    assert.equal(parseDuration(''), undefined);
  });

  it('parses failsafe ports in Felix text form', () => {
    assert.deepEqual(parseFailsafeText('tcp:22, udp:68, TCP:10.0.0.0/8:6443'), [
      { protocol: 'tcp', port: 22 },
      { protocol: 'udp', port: 68 },
      { protocol: 'tcp', port: 6443, net: '10.0.0.0/8' },
    ]);
    assert.deepEqual(parseFailsafeText('none'), []);
    assert.deepEqual(parseFailsafeText(''), []);
    assert.equal(parseFailsafeText('icmp:1'), undefined);
    assert.equal(parseFailsafeText('tcp:99999'), undefined);
    assert.equal(parseFailsafeText('22'), undefined);
    assert.deepEqual(parseFailsafeText('tcp:10.1.2.3/8:22'), [{ protocol: 'tcp', port: 22, net: '10.0.0.0/8' }], 'nets are normalised');
    assert.equal(parseFailsafeText('tcp:10.0.0.0/99:22'), undefined);
  });

  it("has Felix's failsafe defaults, inbound and outbound", () => {
    const c = defaultConfig();
    assert.deepEqual(
      c.failsafeInboundHostPorts.map((p) => `${p.protocol}:${p.port}`),
      ['tcp:22', 'udp:68', 'tcp:179', 'tcp:2379', 'tcp:2380', 'tcp:5473', 'tcp:6443', 'tcp:6666', 'tcp:6667'],
    );
    assert.deepEqual(
      c.failsafeOutboundHostPorts.map((p) => `${p.protocol}:${p.port}`),
      ['udp:53', 'udp:67', 'tcp:179', 'tcp:2379', 'tcp:2380', 'tcp:5473', 'tcp:6443', 'tcp:6666', 'tcp:6667'],
    );
    assert.equal(c.interfacePrefix, 'cali');
  });

  it('converts by type, from text and from resource JSON', () => {
    assert.equal(convertValue('healthPort', '9199'), 9199);
    assert.equal(convertValue('healthPort', 9199), 9199);
    assert.equal(convertValue('healthPort', '70000'), undefined);
    assert.equal(convertValue('healthEnabled', 'false'), false);
    assert.equal(convertValue('healthEnabled', 'yes'), true);
    assert.equal(convertValue('healthEnabled', 'maybe'), undefined);
    assert.equal(convertValue('logSeverityScreen', 'Warning'), 'warn');
    assert.equal(convertValue('logSeverityScreen', 'DEBUG'), 'debug');
    assert.equal(convertValue('nftablesRefreshInterval', '10s'), 10_000);
    assert.equal(convertValue('nftablesRefreshInterval', 10), 10_000);
    assert.equal(convertValue('defaultEndpointToHostAction', 'accept'), 'Accept');
    assert.deepEqual(convertValue('failsafeInboundHostPorts', [{ protocol: 'UDP', port: 53 }, { port: 22 }]), [
      { protocol: 'udp', port: 53 },
      { protocol: 'tcp', port: 22 },
    ]);
  });
});

describe('agent config - precedence', () => {
  const file = parseConfigFile('[global]\nHealthPort = 3000\nLogSeverityScreen = Error\nReportingInterval = 5\n', '/etc/margay/agent.cfg').layer;

  it('defaults < FelixConfiguration default < node.<host> < file < FELIX_ env < MARGAY_ env < flags', () => {
    const env = environmentLayers({
      FELIX_HEALTHPORT: '4000',
      FELIX_REPORTINGINTERVAL: '7',
      MARGAY_REPORTINGINTERVAL: '8',
      FELIX_FELIXHOSTNAME: 'from-felix-env',
    }).layers;
    const resolved = resolveConfig(
      [
        felixConfigurationLayer('default', { healthPort: 1000, logSeverityScreen: 'Debug', prometheusMetricsPort: 1001, routeRefreshInterval: '10s', reportingTTL: '1m' }),
        felixConfigurationLayer('node.h1', { healthPort: 2000, prometheusMetricsPort: 2001, routeRefreshInterval: '20s' }),
        file,
        ...env,
        ...flagLayers({ hostname: 'from-flag' }),
      ],
      { defaultHostname: 'machine' },
    );
    const c = resolved.config;
    assert.equal(c.reportingTTL, 60_000); // only in default
    assert.equal(c.routeRefreshInterval, 20_000); // node wins over default
    assert.equal(c.prometheusMetricsPort, 2001); // node
    assert.equal(c.logSeverityScreen, 'error'); // file wins over the datastore
    assert.equal(c.healthPort, 4000); // FELIX_ env wins over the file
    assert.equal(c.reportingInterval, 8000); // MARGAY_ wins over FELIX_
    assert.equal(c.felixHostname, 'from-flag'); // flag wins over env
    assert.equal(c.nftablesRefreshInterval, 90_000); // default
    assert.equal(resolved.sources.healthPort, 'env:FELIX_HEALTHPORT');
    assert.equal(resolved.sources.reportingInterval, 'env:MARGAY_REPORTINGINTERVAL');
    assert.equal(resolved.sources.routeRefreshInterval, 'felixconfiguration/node.h1');
    assert.equal(resolved.sources.logSeverityScreen, 'file:/etc/margay/agent.cfg');
    assert.equal(resolved.sources.nftablesRefreshInterval, 'default');
  });

  it('the hostname: machine name < NODENAME < FELIX_FELIXHOSTNAME < MARGAY_HOSTNAME < --hostname', () => {
    const pick = (env: Record<string, string>, flags = {}) =>
      resolveConfig([...environmentLayers(env).layers, ...flagLayers(flags)], { defaultHostname: 'machine' }).config.felixHostname;
    assert.equal(pick({}), 'machine');
    assert.equal(pick({ NODENAME: 'n' }), 'n');
    assert.equal(pick({ NODENAME: 'n', FELIX_FELIXHOSTNAME: 'f' }), 'f');
    assert.equal(pick({ NODENAME: 'n', FELIX_FELIXHOSTNAME: 'f', MARGAY_HOSTNAME: 'm' }), 'm');
    assert.equal(pick({ MARGAY_HOSTNAME: 'm' }, { hostname: 'flag' }), 'flag');
  });

  it('local-only parameters are never taken from a FelixConfiguration', () => {
    const c = resolveConfig([felixConfigurationLayer('default', { netns: 'evil', stateDir: '/tmp/x', felixHostname: 'other' })], { defaultHostname: 'm' }).config;
    assert.equal(c.netns, '');
    assert.equal(c.stateDir, '/var/lib/margay');
    assert.equal(c.felixHostname, 'm');
  });

  it('a bad local value is an error naming where it is; a bad datastore value is a warning', () => {
    assert.throws(
      () => resolveConfig(environmentLayers({ MARGAY_HEALTHPORT: 'abc' }).layers),
      (err: unknown) => hasCode(err, 'MARGAY_ERR_CONFIG') && /MARGAY_HEALTHPORT: must be a port number between 0 and 65535 \(got "abc"\)/.test((err as Error).message),
    );
    assert.throws(
      () => resolveConfig([parseConfigFile('LogSeverityScreen = loud\n', 'f.cfg').layer]),
      /f\.cfg: logSeverityScreen: must be one of Trace, Debug, Info, Warning, Error, Fatal/,
    );
    const resolved = resolveConfig([felixConfigurationLayer('default', { healthPort: 'nope' })]);
    assert.equal(resolved.config.healthPort, 9099);
    assert.match(resolved.warnings[0]!, /FelixConfiguration default: spec\.healthPort: must be a port number/);
  });

  it('dataplane settings follow the same precedence as every other parameter', () => {
    const fc = (name: string, spec: Record<string, unknown>) => felixConfigurationLayer(name, spec);
    const file = parseConfigFile('FailsafeInboundHostPorts = tcp:3\nLogPrefix = file\nInterfacePrefix = f\n', 'a.cfg').layer;
    const env = environmentLayers({ FELIX_FAILSAFEINBOUNDHOSTPORTS: 'tcp:4', MARGAY_FAILSAFEINBOUNDHOSTPORTS: 'tcp:5', FELIX_LOGPREFIX: 'env' }).layers;
    const resolver = new SettingsResolver({ local: { layers: [file, ...env, ...flagLayers({ hostname: 'h1' })], warnings: [] } });
    resolver.onFelixConfigurationUpdate('default', { failsafeInboundHostPorts: [{ port: 1 }], ipv6Support: false, interfacePrefix: 'd', defaultEndpointToHostAction: 'Return', logPrefix: 'd' });
    resolver.onFelixConfigurationUpdate('node.h1', { failsafeInboundHostPorts: [{ port: 2 }], defaultEndpointToHostAction: 'Accept', logPrefix: 'n' });
    const s = resolver.settings;
    assert.deepEqual(s.failsafeInbound, [{ protocol: 'tcp', port: 5 }], 'MARGAY_ env over FELIX_ env over the file over node over default');
    assert.equal(s.logPrefix, 'env');
    assert.deepEqual(s.interfacePrefixes, ['f']);
    assert.equal(s.defaultEndpointToHostAction, 'Accept', 'node over default');
    assert.equal(s.ipv6Enabled, false, 'default over the built-in default');
    assert.deepEqual(s.failsafeOutbound, defaultConfig().failsafeOutboundHostPorts, 'the built-in default');
    assert.deepEqual(resolver.current.config.failsafeInboundHostPorts, s.failsafeInbound, 'the resolved value is the one the dataplane gets');
    assert.equal(resolver.current.sources.failsafeInboundHostPorts, 'env:MARGAY_FAILSAFEINBOUNDHOSTPORTS');
  });
});

describe('agent config - file', () => {
  it('reads INI-like lines, comments, sections and quotes; keys are case-insensitive', () => {
    const { layer, warnings } = parseConfigFile(
      '# Felix-style\n; also a comment\n[global]\nhealthport = 1234\nLogSeverityScreen: "Debug"\nIptablesBackend = NFT\nHostname = h9\n',
      'a.cfg',
    );
    assert.deepEqual(layer.values, { healthPort: '1234', logSeverityScreen: 'Debug', felixHostname: 'h9' });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /a\.cfg:6: IptablesBackend is a Felix parameter Margay does not use/);
  });

  it('rejects unknown keys and malformed lines with file and line', () => {
    assert.throws(() => parseConfigFile('Bogus = 1\n', 'b.cfg'), /b\.cfg:1: unknown parameter "Bogus"/);
    assert.throws(() => parseConfigFile('\njust words\n', 'b.cfg'), /b\.cfg:2: expected "Name = value"/);
  });

  it('loadLocalConfig reads the file named by --config-file or MARGAY_CONFIG_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'margay-cfg-'));
    try {
      const f = join(dir, 'agent.cfg');
      writeFileSync(f, 'HealthPort = 5555\n');
      const byFlag = loadLocalConfig({ configFile: f, env: {} });
      assert.equal(resolveConfig(byFlag.layers).config.healthPort, 5555);
      const byEnv = loadLocalConfig({ env: { MARGAY_CONFIG_FILE: f, MARGAY_HEALTHPORT: '6666' } });
      assert.equal(resolveConfig(byEnv.layers).config.healthPort, 6666);
      assert.throws(() => loadLocalConfig({ configFile: join(dir, 'missing.cfg'), env: {} }), /missing\.cfg: cannot read the agent configuration file: no such file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('agent config - the resolver follows the datastore', () => {
  it('follows FelixConfiguration default and node.<hostname> and reports what changed', () => {
    const resolver = new SettingsResolver({ local: { layers: flagLayers({ hostname: 'h1' }), warnings: [] } });
    const told: string[][] = [];
    resolver.subscribe({ onConfigChanged: (changed) => told.push(changed) });
    assert.deepEqual(resolver.onFelixConfigurationUpdate('default', { healthPort: 1000, logSeverityScreen: 'Debug' }), ['logSeverityScreen', 'healthPort']);
    assert.deepEqual(resolver.onFelixConfigurationUpdate('node.h2', { healthPort: 3 }), []);
    assert.deepEqual(resolver.onFelixConfigurationUpdate('node.h1', { healthPort: 2000 }), ['healthPort']);
    assert.equal(resolver.current.config.healthPort, 2000);
    assert.deepEqual(resolver.onFelixConfigurationUpdate('node.h1', undefined), ['healthPort']);
    assert.equal(resolver.current.config.healthPort, 1000);
    assert.deepEqual(resolver.onFelixConfigurationUpdate('default', undefined), ['logSeverityScreen', 'healthPort']);
    assert.equal(resolver.current.config.logSeverityScreen, 'info');
    assert.equal(told.length, 4, 'listeners hear every change, and only changes');
  });

  it('local layers stay on top of datastore changes', () => {
    const resolver = new SettingsResolver({ local: { layers: [...flagLayers({ hostname: 'h1' }), ...environmentLayers({ MARGAY_HEALTHPORT: '7' }).layers], warnings: [] } });
    assert.deepEqual(resolver.onFelixConfigurationUpdate('node.h1', { healthPort: 2000 }), []);
    assert.equal(resolver.current.config.healthPort, 7);
  });
});
