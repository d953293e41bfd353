/**
 * FelixConfiguration: the agent's dataplane settings, cluster-wide (`default`) or per node
 * (`node.<name>`). Every field of Calico's FelixConfigurationSpec is modelled as an optional
 * typed field; patterns and enums are the CRD's (many are case-insensitive there), and the
 * cross-field checks are those of Calico's `validateFelixConfigSpec`.
 */
import { z } from 'zod';
import { checkLabelName, checkSubdomainName, LOG_LEVELS, selectorSchema } from '../common.ts';
import { parseCidrOrIp } from '../../net/mod.ts';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import {
  caseInsensitiveEnum,
  dscpSchema,
  enumOf,
  felixDurationSchema,
  goDurationSchema,
  intRange,
  ipSchemaOf,
  issue,
  portNumber,
  specOf,
  withSpec,
} from './infra-common.ts';

const INTERFACE = /^[a-zA-Z0-9_.-]{1,15}$/;
const IFACE_FILTER = /^[a-zA-Z0-9:._+-]{1,15}$/;
const PROMETHEUS_HOST = /^[a-zA-Z0-9:._+-]{1,64}$/;
const HEALTH_OVERRIDE_NAME = /^[a-zA-Z0-9_ -]+$/;
const CONNTRACK_TIMEOUT = /^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$/;


const regexSchema = z.string().refine((s) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}, { message: 'must be a valid regular expression' });

const bool = z.boolean();
const str = z.string();
// Go's int is wider, but nothing Felix takes as an int makes sense beyond 32 bits.
const int = intRange(-2147483648, 2147483647);
const port = portNumber(true);
const mtu = intRange(0, 65535);
const uint32 = intRange(0, 0xffffffff);
const duration = felixDurationSchema;

/** numorstring.Port as written: a number, or `"lo:hi"` (or a name where named ports are allowed). */
function portOrRange(allowNamed: boolean): z.ZodType<number | string> {
  return z.union([z.number(), z.string()]).superRefine((v, ctx) => {
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 0 || v > 65535) ctx.addIssue({ code: 'custom', message: 'port must be between 0 and 65535' });
      return;
    }
    const range = /^(\d+)(?::(\d+))?$/.exec(v);
    if (range) {
      const lo = Number(range[1]);
      const hi = range[2] === undefined ? lo : Number(range[2]);
      if (lo > 65535 || hi > 65535 || lo > hi) ctx.addIssue({ code: 'custom', message: `invalid port range ${JSON.stringify(v)} (lo:hi with 0 <= lo <= hi <= 65535)` });
      return;
    }
    if (!allowNamed) ctx.addIssue({ code: 'custom', message: `must be a port number or range "lo:hi" (named ports are not allowed here; got ${JSON.stringify(v)})` });
  });
}

const protoPortSchema = z.strictObject({
  protocol: z.string().refine((p) => p === 'TCP' || p === 'UDP' || p === 'SCTP', { message: "protocol must be 'TCP' or 'UDP' or 'SCTP'" }).optional(),
  port: portNumber(true),
  net: z.string().refine((s) => s === '' || parseCidrOrIp(s) !== undefined, { message: 'must be a CIDR such as 192.168.0.0/16' }).optional(),
});

const cidrList = z.array(z.string().refine((s) => parseCidrOrIp(s) !== undefined, { message: 'must be a CIDR or IP address' }));

const routeTableRange = z.strictObject({ min: int, max: int });

const conntrackTimeout = z.string().regex(CONNTRACK_TIMEOUT, { message: 'must be a duration such as 30s, or Auto' });

/**
 * The full FelixConfigurationSpec field list, each field's schema built when the spec's is (on
 * first use: the names are needed at load, the schemas seldom).
 */
const fields = {
  // Which nodes a FelixConfiguration other than default and node.<name> applies to.
  nodeSelector: () => z.string().max(1024, { message: 'must be at most 1024 characters' }).pipe(selectorSchema),
  useInternalDataplaneDriver: () => bool,
  dataplaneDriver: () => str,
  dataplaneWatchdogTimeout: () => duration,
  ipv6Support: () => bool,
  routeRefreshInterval: () => duration,
  interfaceRefreshInterval: () => duration,
  iptablesRefreshInterval: () => duration,
  iptablesPostWriteCheckInterval: () => duration,
  iptablesLockFilePath: () => str,
  iptablesLockTimeout: () => duration,
  iptablesLockProbeInterval: () => duration,
  featureDetectOverride: () => z.string().regex(/^([a-zA-Z0-9-_]+=(true|false|),)*([a-zA-Z0-9-_]+=(true|false|))?$/, {
    message: 'must be a comma-separated list of Feature=true|false|<empty>',
  }),
  featureGates: () => z.string().regex(/^([a-zA-Z0-9-_]+=([^=]+),)*([a-zA-Z0-9-_]+=([^=]+))?$/, {
    message: 'must be a comma-separated list of Feature=value',
  }),
  ipsetsRefreshInterval: () => duration,
  maxIpsetSize: () => intRange(0, 2147483647),
  iptablesBackend: () => enumOf(['Auto', 'Legacy', 'NFT'] as const),
  xdpRefreshInterval: () => duration,
  netlinkTimeout: () => duration,
  metadataAddr: () => str,
  metadataPort: () => port,
  openstackRegion: () => str,
  interfacePrefix: () => str,
  interfaceExclude: () => str,
  chainInsertMode: () => caseInsensitiveEnum(['Insert', 'Append']),
  defaultEndpointToHostAction: () => enumOf(['Drop', 'Accept', 'Return'] as const),
  iptablesFilterAllowAction: () => enumOf(['Accept', 'Return'] as const),
  iptablesMangleAllowAction: () => enumOf(['Accept', 'Return'] as const),
  iptablesFilterDenyAction: () => enumOf(['Drop', 'Reject'] as const),
  logPrefix: () => z.string().regex(/^[a-zA-Z0-9%: /_-]*$/, { message: 'may hold only letters, digits and % : / _ - and spaces' }),
  logFilePath: () => str,
  logSeverityFile: () => enumOf(LOG_LEVELS),
  logSeverityScreen: () => enumOf(LOG_LEVELS),
  logSeveritySys: () => enumOf(LOG_LEVELS),
  logDebugFilenameRegex: () => regexSchema,
  logActionRateLimit: () => z.string().regex(/^[1-9]\d{0,3}\/(second|minute|hour|day)$/, { message: 'must be N/second, N/minute, N/hour or N/day with N from 1 to 9999' }),
  logActionRateLimitBurst: () => intRange(0, 9999),
  ipipEnabled: () => bool,
  ipipMTU: () => mtu,
  vxlanEnabled: () => bool,
  vxlanMTU: () => mtu,
  vxlanMTUV6: () => mtu,
  vxlanPort: () => port,
  vxlanVNI: () => intRange(0, 16777215),
  allowVXLANPacketsFromWorkloads: () => bool,
  allowIPIPPacketsFromWorkloads: () => bool,
  reportingInterval: () => duration,
  reportingTTL: () => duration,
  endpointReportingEnabled: () => bool,
  endpointReportingDelay: () => duration,
  endpointStatusPathPrefix: () => str,
  iptablesMarkMask: () => uint32,
  disableConntrackInvalidCheck: () => bool,
  healthEnabled: () => bool,
  healthHost: () => str,
  healthPort: () => port,
  healthTimeoutOverrides: () => z.array(
    z.strictObject({
      name: z.string().regex(HEALTH_OVERRIDE_NAME, { message: 'name should match regex ^[a-zA-Z0-9_ -]+$' }),
      timeout: goDurationSchema,
    }),
  ),
  prometheusMetricsEnabled: () => bool,
  prometheusMetricsHost: () => z.string().regex(PROMETHEUS_HOST, { message: 'must be a host name or IP address (at most 64 of [a-zA-Z0-9:._+-])' }),
  prometheusMetricsPort: () => port,
  prometheusGoMetricsEnabled: () => bool,
  prometheusProcessMetricsEnabled: () => bool,
  prometheusWireGuardMetricsEnabled: () => bool,
  prometheusMetricsCAFile: () => str,
  prometheusMetricsCertFile: () => str,
  prometheusMetricsKeyFile: () => str,
  prometheusMetricsClientAuth: () => enumOf(['RequireAndVerifyClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'NoClientCert'] as const),
  failsafeInboundHostPorts: () => z.array(protoPortSchema),
  failsafeOutboundHostPorts: () => z.array(protoPortSchema),
  kubeNodePortRanges: () => z.array(portOrRange(false)).max(7, { message: 'at most 7 port ranges' }),
  policySyncPathPrefix: () => str,
  usageReportingEnabled: () => bool,
  usageReportingInitialDelay: () => duration,
  usageReportingInterval: () => duration,
  natPortRange: () => portOrRange(false),
  natOutgoingAddress: () => ipSchemaOf(4),
  natOutgoingExclusions: () => enumOf(['IPPoolsOnly', 'IPPoolsAndHostIPs'] as const),
  deviceRouteSourceAddress: () => ipSchemaOf(4),
  deviceRouteSourceAddressIPv6: () => ipSchemaOf(6),
  deviceRouteProtocol: () => intRange(0, 255),
  removeExternalRoutes: () => bool,
  programClusterRoutes: () => enumOf(['Disabled', 'Enabled', 'EnabledIPIPOnly', 'EnabledNoEncapOnly'] as const),
  ipForwarding: () => enumOf(['Enabled', 'Disabled'] as const),
  externalNodesList: () => cidrList,
  debugMemoryProfilePath: () => str,
  debugDisableLogDropping: () => bool,
  debugSimulateCalcGraphHangAfter: () => duration,
  debugSimulateDataplaneHangAfter: () => duration,
  debugSimulateDataplaneApplyDelay: () => duration,
  debugHost: () => str,
  debugPort: () => portNumber(true),
  iptablesNATOutgoingInterfaceFilter: () => z.string().regex(IFACE_FILTER, { message: 'must be an interface match (at most 15 of [a-zA-Z0-9:._+-])' }),
  sidecarAccelerationEnabled: () => bool,
  xdpEnabled: () => bool,
  genericXDPEnabled: () => bool,
  nftablesMode: () => enumOf(['Disabled', 'Enabled', 'Auto'] as const),
  nftablesRefreshInterval: () => duration,
  nftablesFilterAllowAction: () => enumOf(['Accept', 'Return'] as const),
  nftablesMangleAllowAction: () => enumOf(['Accept', 'Return'] as const),
  nftablesFilterDenyAction: () => enumOf(['Drop', 'Reject'] as const),
  nftablesMarkMask: () => uint32,
  bpfEnabled: () => bool,
  bpfDisableUnprivileged: () => bool,
  bpfLogLevel: () => enumOf(['Off', 'Info', 'Debug'] as const),
  bpfConntrackLogLevel: () => enumOf(['Off', 'Debug'] as const),
  bpfConntrackMode: () => enumOf(['Auto', 'Userspace', 'BPFProgram'] as const),
  bpfConntrackTimeouts: () => z.strictObject({
    creationGracePeriod: conntrackTimeout.optional(),
    tcpSynSent: conntrackTimeout.optional(),
    tcpEstablished: conntrackTimeout.optional(),
    tcpFinsSeen: conntrackTimeout.optional(),
    tcpResetSeen: conntrackTimeout.optional(),
    udpTimeout: conntrackTimeout.optional(),
    genericTimeout: conntrackTimeout.optional(),
    icmpTimeout: conntrackTimeout.optional(),
  }),
  bpfLogFilters: () => z.record(z.string(), z.string()).superRefine((m, ctx) => {
    for (const k of Object.keys(m)) {
      if (!INTERFACE.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: 'key must be an interface name, all, weps or heps' });
    }
  }),
  bpfCTLBLogFilter: () => str,
  bpfDataIfacePattern: () => regexSchema,
  bpfL3IfacePattern: () => regexSchema,
  bpfConnectTimeLoadBalancingEnabled: () => bool,
  bpfConnectTimeLoadBalancing: () => enumOf(['TCP', 'Enabled', 'Disabled'] as const),
  bpfHostNetworkedNATWithoutCTLB: () => enumOf(['Enabled', 'Disabled'] as const),
  bpfExternalServiceMode: () => enumOf(['Tunnel', 'DSR'] as const),
  bpfDSROptoutCIDRs: () => cidrList,
  bpfExtToServiceConnmark: () => uint32,
  bpfKubeProxyIptablesCleanupEnabled: () => bool,
  bpfKubeProxyMinSyncPeriod: () => duration,
  bpfKubeProxyEndpointSlicesEnabled: () => bool,
  bpfKubeProxyHealthzPort: () => portNumber(true),
  bpfPSNATPorts: () => portOrRange(false),
  bpfMapSizeNATFrontend: () => int,
  bpfMapSizeNATBackend: () => int,
  bpfMapSizeNATAffinity: () => int,
  bpfMapSizeRoute: () => int,
  bpfMapSizeConntrack: () => int,
  bpfMapSizePerCpuConntrack: () => int,
  bpfMapSizeConntrackScaling: () => caseInsensitiveEnum(['Disabled', 'DoubleIfFull']),
  bpfMapSizeConntrackCleanupQueue: () => int.min(1, { message: 'must be at least 1' }),
  bpfMapSizeIPSets: () => int,
  bpfMapSizeIfState: () => int,
  bpfHostConntrackBypass: () => bool,
  bpfEnforceRPF: () => caseInsensitiveEnum(['Disabled', 'Strict', 'Loose']),
  bpfPolicyDebugEnabled: () => bool,
  bpfForceTrackPacketsFromIfaces: () => z.array(z.string().regex(IFACE_FILTER, { message: 'must be an interface match (at most 15 of [a-zA-Z0-9:._+-])' })),
  bpfDisableGROForIfaces: () => regexSchema,
  bpfExcludeCIDRsFromNAT: () => cidrList,
  bpfExportBufferSizeMB: () => int,
  bpfRedirectToPeer: () => enumOf(['Enabled', 'Disabled', 'L2Only'] as const),
  bpfProfiling: () => enumOf(['Enabled', 'Disabled'] as const),
  bpfAttachType: () => enumOf(['TC', 'TCX'] as const),
  bpfJITHardening: () => enumOf(['Auto', 'Strict'] as const),
  bpfMaglevMaxEndpointsPerService: () => intRange(1, 3000),
  bpfMaglevMaxServices: () => intRange(1, 3000),
  flowLogsPolicyEvaluationMode: () => enumOf(['None', 'Continuous'] as const),
  flowLogsFlushInterval: () => duration,
  flowLogsCollectorDebugTrace: () => bool,
  flowLogsGoldmaneServer: () => str,
  flowLogsLocalReporter: () => enumOf(['Disabled', 'Enabled'] as const),
  routeSource: () => caseInsensitiveEnum(['WorkloadIPs', 'CalicoIPAM']),
  routeTableRanges: () => z.array(routeTableRange),
  routeTableRange: () => routeTableRange,
  routeSyncDisabled: () => bool,
  ipv4NormalRoutePriority: () => intRange(1, 2147483646),
  ipv4ElevatedRoutePriority: () => intRange(1, 2147483646),
  ipv6NormalRoutePriority: () => intRange(1, 2147483646),
  ipv6ElevatedRoutePriority: () => intRange(1, 2147483646),
  wireguardEnabled: () => bool,
  wireguardEnabledV6: () => bool,
  wireguardThreadingEnabled: () => bool,
  wireguardListeningPort: () => portNumber(),
  wireguardListeningPortV6: () => portNumber(),
  wireguardRoutingRulePriority: () => intRange(1, 32765),
  wireguardInterfaceName: () => z.string().regex(INTERFACE, { message: 'must be an interface name (at most 15 of [a-zA-Z0-9_.-])' }),
  wireguardInterfaceNameV6: () => z.string().regex(INTERFACE, { message: 'must be an interface name (at most 15 of [a-zA-Z0-9_.-])' }),
  wireguardMTU: () => mtu,
  wireguardMTUV6: () => mtu,
  wireguardHostEncryptionEnabled: () => bool,
  wireguardKeepAlive: () => duration,
  awsSrcDstCheck: () => enumOf(['DoNothing', 'Enable', 'Disable'] as const),
  serviceLoopPrevention: () => enumOf(['Drop', 'Reject', 'Disabled'] as const),
  workloadSourceSpoofing: () => enumOf(['Disabled', 'Any'] as const),
  mtuIfacePattern: () => regexSchema,
  floatingIPs: () => enumOf(['Enabled', 'Disabled'] as const),
  windowsManageFirewallRules: () => enumOf(['Enabled', 'Disabled'] as const),
  goGCThreshold: () => int.min(-1, { message: 'must be at least -1' }),
  goMemoryLimitMB: () => int.min(-1, { message: 'must be at least -1' }),
  goMaxProcs: () => int.min(-1, { message: 'must be at least -1' }),
  requireMTUFile: () => bool,
  cgroupV2Path: () => str,
  istioAmbientMode: () => enumOf(['Enabled', 'Disabled'] as const),
  istioDSCPMark: () => dscpSchema,
  liveMigrationRouteConvergenceTime: () => duration,
} satisfies Record<string, () => z.ZodType>;

/** The names of every FelixConfiguration spec field Margay accepts. */
export const FELIX_CONFIG_FIELDS: readonly string[] = Object.keys(fields);

const specSchema = lazy(() => z.strictObject(Object.fromEntries(Object.entries(fields).map(([k, build]) => [k, build().optional()]))));

const MAX_ROUTE_TABLES = 0xffff;
const REGION_PREFIX = 'openstack-region-';

function validate(res: Resource): FieldIssue[] {
  const spec = specOf(res);
  const issues: FieldIssue[] = [];
  const range = spec.routeTableRange as { min: number; max: number } | undefined;
  const ranges = spec.routeTableRanges as { min: number; max: number }[] | undefined;
  if (range !== undefined && ranges !== undefined) {
    issues.push(issue('spec.routeTableRanges', 'routeTableRange and routeTableRanges cannot both be set'));
  }
  if (range !== undefined) {
    if (range.min < 1 || range.min > 250) issues.push(issue('spec.routeTableRange.min', 'must be between 1 and 250'));
    if (range.max < 1 || range.max > 250) issues.push(issue('spec.routeTableRange.max', 'must be between 1 and 250'));
    if (range.max < range.min) issues.push(issue('spec.routeTableRange.max', 'must not be less than min'));
  }
  if (ranges !== undefined) {
    let total = 0;
    ranges.forEach((r, i) => {
      if (r.min < 1 || r.min > 0xffffffff) issues.push(issue(`spec.routeTableRanges[${i}].min`, 'must be between 1 and 4294967295'));
      if (r.max < 1 || r.max > 0xffffffff) issues.push(issue(`spec.routeTableRanges[${i}].max`, 'must be between 1 and 4294967295'));
      if (r.max < r.min) issues.push(issue(`spec.routeTableRanges[${i}].max`, 'must not be less than min'));
      total += r.max - r.min + 1;
    });
    if (total > MAX_ROUTE_TABLES) issues.push(issue('spec.routeTableRanges', `targets too many tables (${total}; at most ${MAX_ROUTE_TABLES})`));
  }
  const external = spec.externalNodesList as string[] | undefined;
  external?.forEach((cidr, i) => {
    if (parseCidrOrIp(cidr)?.family === 6) issues.push(issue(`spec.externalNodesList[${i}]`, 'has invalid IPv6 CIDR (IPv4 only)'));
  });
  // The CRD's rule: default and node.<name> apply by their names; only the others select nodes.
  const name = res.metadata.name;
  if (spec.nodeSelector !== undefined && (name === 'default' || name.startsWith('node.'))) {
    issues.push(issue('spec.nodeSelector', "must not be set on the 'default' or a per-node ('node.*') FelixConfiguration"));
  }
  const region = spec.openstackRegion as string | undefined;
  if (region !== undefined && region !== '') {
    if (region.length > 63 - REGION_PREFIX.length) issues.push(issue('spec.openstackRegion', 'is too long'));
    else if (checkLabelName(region)) issues.push(issue('spec.openstackRegion', 'must be a valid DNS label'));
  }
  return issues;
}

function applyDefaults(res: Resource): Resource {
  const spec: Record<string, unknown> = { ...specOf(res) };
  spec.nftablesMode ??= 'Auto';
  return withSpec(res, spec);
}

export const felixConfigurationKind: KindDefinition = {
  kind: 'FelixConfiguration',
  plural: 'felixconfigurations',
  namespaced: false,
  aliases: ['felixconfig', 'felixconfigs'],
  get specSchema() {
    return specSchema();
  },
  checkName: checkSubdomainName,
  validate,
  applyDefaults,
  columns: [],
  wideColumns: [],
};
