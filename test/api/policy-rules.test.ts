// Table cases ported from Calico's libcalico-go/lib/validator/v3/validator_test.go (rules, entity
// rules, ICMP, HTTP, protocols, ports, selectors, policies, tiers), as manifests.
import { describe, it } from 'node:test';
import { type Case, type Obj, gnp, ingressRule, np, runCase, tier } from './policy-helpers.ts';

const netv4_1 = '1.2.3.4/32';
const netv4_2 = '1.2.0.0/32';
const netv4_3 = '1.2.3.0/26';
const netv4_4 = '1.0.0.0/10';
const netv6_1 = 'aabb:aabb::ffff/128';
const netv6_2 = 'aabb:aabb::/128';
const netv6_3 = 'aabb:aabb::0000/122';

const allow = (extra: Obj = {}): Obj => ingressRule({ action: 'Allow', ...extra });
const R = 'spec.ingress[0]';
const longName = (n: number): string => 'x'.repeat(n);

const ruleCases: Case[] = [
  // Actions.
  ['accepts allow action', ingressRule({ action: 'Allow' }), true],
  ['accepts deny action', ingressRule({ action: 'Deny' }), true],
  ['accepts log action', ingressRule({ action: 'Log' }), true],
  ['accepts pass action', ingressRule({ action: 'Pass' }), true],
  ['rejects unknown action', ingressRule({ action: 'unknown' }), `${R}.action`],
  ['rejects unknown action allowfoo', ingressRule({ action: 'allowfoo' }), `${R}.action`],
  ['rejects lower-case action', ingressRule({ action: 'allow' }), `${R}.action`],
  ['rejects rule with no action', ingressRule({}), `${R}.action`],

  // IP version.
  ['accepts IP version 4', allow({ ipVersion: 4 }), true],
  ['accepts IP version 6', allow({ ipVersion: 6 }), true],
  ['rejects IP version 0', allow({ ipVersion: 0 }), `${R}.ipVersion`],
  ['rejects IP version "4" as a string', allow({ ipVersion: '4' }), `${R}.ipVersion`],

  // Protocols.
  ['accepts protocol TCP', allow({ protocol: 'TCP' }), true],
  ['accepts protocol UDP', allow({ protocol: 'UDP' }), true],
  ['accepts protocol ICMP', allow({ protocol: 'ICMP' }), true],
  ['accepts protocol ICMPv6', allow({ protocol: 'ICMPv6' }), true],
  ['accepts protocol SCTP', allow({ protocol: 'SCTP' }), true],
  ['accepts protocol UDPLite', allow({ protocol: 'UDPLite' }), true],
  ['accepts protocol 1 as int', allow({ protocol: 1 }), true],
  ['accepts protocol 255 as int', allow({ protocol: 255 }), true],
  ['accepts protocol 255 as string', allow({ protocol: '255' }), true],
  ['accepts protocol 1 as string', allow({ protocol: '1' }), true],
  ['rejects protocol 0 as int', allow({ protocol: 0 }), `${R}.protocol`],
  ['rejects protocol 256 as int', allow({ protocol: 256 }), `${R}.protocol`],
  ['rejects protocol 256 as string', allow({ protocol: '256' }), `${R}.protocol`],
  ['rejects protocol 0 as string', allow({ protocol: '0' }), `${R}.protocol`],
  ['rejects protocol tcpfoo', allow({ protocol: 'tcpfoo' }), `${R}.protocol`],
  ['rejects protocol footcp', allow({ protocol: 'footcp' }), `${R}.protocol`],
  ['rejects protocol tcp', allow({ protocol: 'tcp' }), `${R}.protocol`],
  ['rejects notProtocol udp', allow({ notProtocol: 'udp' }), `${R}.notProtocol`],
  ['accepts notProtocol UDP', allow({ notProtocol: 'UDP' }), true],

  // Selectors in entity rules.
  ['accepts valid selector', allow({ source: { selector: 'foo == "bar"' } }), true],
  ["accepts valid selector with 'has' and a '/'", allow({ source: { selector: 'has(calico/k8s_ns)' } }), true],
  ["accepts valid selector with 'has' and two '/'", allow({ source: { selector: 'has(calico/k8s_ns/role)' } }), true],
  ["accepts valid selector with 'has', two '/' and '-.'", allow({ source: { selector: 'has(calico/k8s_NS-.1/role)' } }), true],
  ['rejects invalid selector', allow({ source: { selector: 'thing=hello &' } }), `${R}.source.selector`],
  ['rejects invalid notSelector', allow({ destination: { notSelector: 'a ==' } }), `${R}.destination.notSelector`],
  ['rejects invalid namespaceSelector', allow({ source: { namespaceSelector: '(' } }), `${R}.source.namespaceSelector`],
  ['rejects invalid serviceAccounts selector', allow({ source: { serviceAccounts: { selector: '&&' } } }), `${R}.source.serviceAccounts.selector`],

  // Ports.
  ['accepts source ports with protocol 6', allow({ protocol: 6, source: { ports: [1] } }), true],
  ['accepts source named ports with protocol 6', allow({ protocol: 6, source: { ports: ['foo'] } }), true],
  ['accepts source named ports with protocol TCP', allow({ protocol: 'TCP', source: { ports: ['foo'] } }), true],
  ['accepts source named ports with protocol UDP', allow({ protocol: 'UDP', source: { ports: ['foo'] } }), true],
  ['accepts empty source ports with protocol 7', allow({ protocol: 7, source: { ports: [] } }), true],
  ['accepts source notPorts with protocol 17', allow({ protocol: 17, source: { notPorts: [1] } }), true],
  ['accepts empty source notPorts with protocol 100', allow({ protocol: 100, source: { notPorts: [] } }), true],
  ['accepts dest ports with protocol TCP', allow({ protocol: 'TCP', destination: { ports: [1] } }), true],
  ['accepts dest port range and name with TCP', allow({ protocol: 'TCP', destination: { ports: ['1:1024', 'http', 65535] } }), true],
  ['rejects dest ports with no protocol', allow({ destination: { ports: [1] } }), `${R}.destination.ports`],
  ['rejects notPorts port 0', allow({ protocol: 'TCP', destination: { notPorts: [0] } }), `${R}.destination.notPorts[0]`],
  ['rejects port range starting at 0', allow({ protocol: 'TCP', destination: { notPorts: ['0:100'] } }), `${R}.destination.notPorts[0]`],
  ['rejects port 65536', allow({ protocol: 'TCP', destination: { ports: [65536] } }), `${R}.destination.ports[0]`],
  ['rejects port "70000"', allow({ protocol: 'TCP', destination: { ports: ['70000'] } }), `${R}.destination.ports[0]`],
  ['rejects a negative port', allow({ protocol: 'TCP', destination: { ports: [-1] } }), `${R}.destination.ports[0]`],
  ['rejects a fractional port', allow({ protocol: 'TCP', destination: { ports: [80.5] } }), `${R}.destination.ports[0]`],
  ['rejects a port name with a space', allow({ protocol: 'TCP', destination: { ports: ['my port'] } }), `${R}.destination.ports[0]`],
  ['rejects an upper-case port name', allow({ protocol: 'TCP', destination: { ports: ['HTTP'] } }), `${R}.destination.ports[0]`],
  ['rejects a port name over 15 characters', allow({ protocol: 'TCP', destination: { ports: ['a-very-long-port-name'] } }), `${R}.destination.ports[0]`],
  ['rejects named port with an invalid protocol', allow({ protocol: 'unknown', destination: { notPorts: ['foo'] } }), `${R}.protocol`],
  ['accepts empty dest ports with protocol SCTP', allow({ protocol: 'SCTP', destination: { ports: [] } }), true],
  ['accepts empty dest notPorts with ICMPv6', allow({ ipVersion: 6, protocol: 'ICMPv6', destination: { notPorts: [] } }), true],
  ['rejects source ports with protocol 7', allow({ protocol: 7, source: { ports: [1] } }), `${R}.source.ports`],
  ['rejects source notPorts with protocol 100', allow({ protocol: 100, source: { notPorts: [1] } }), `${R}.source.notPorts`],
  ['accepts dest ports with protocol SCTP', allow({ protocol: 'SCTP', destination: { ports: [1] } }), true],
  ['rejects dest notPorts with protocol ICMP', allow({ ipVersion: 4, protocol: 'ICMP', destination: { notPorts: [1] } }), `${R}.destination.notPorts`],
  ['rejects ports with protocol UDPLite', allow({ protocol: 'UDPLite', destination: { ports: [1] } }), `${R}.destination.ports`],
  ['rejects reversed source port range', allow({ protocol: 'TCP', source: { ports: ['200:100'] } }), `${R}.source.ports[0]`],
  ['rejects reversed source notPorts range', allow({ protocol: 'TCP', source: { notPorts: ['200:100'] } }), `${R}.source.notPorts[0]`],
  ['rejects reversed dest port range', allow({ protocol: 'TCP', destination: { ports: ['200:100'] } }), `${R}.destination.ports[0]`],
  ['rejects reversed dest notPorts range', allow({ protocol: 'TCP', destination: { notPorts: ['200:100'] } }), `${R}.destination.notPorts[0]`],
  ['rejects more than 50 ports', allow({ protocol: 'TCP', destination: { ports: Array.from({ length: 51 }, (_, i) => i + 1) } }), `${R}.destination.ports`],

  // ICMP.
  ['rejects icmp fields with no protocol', allow({ ipVersion: 4, icmp: { type: 0 } }), `${R}.icmp`],
  ['rejects icmp fields with protocol TCP', allow({ protocol: 'TCP', icmp: { type: 0 } }), `${R}.icmp`],
  ['accepts icmp fields and no ipVersion', allow({ protocol: 'ICMP', icmp: { type: 0 } }), true],
  ['accepts icmpv6 fields and no ipVersion', allow({ protocol: 'ICMPv6', icmp: { type: 0 } }), true],
  ['rejects mismatched ipVersion for ICMP', allow({ protocol: 'ICMP', ipVersion: 6 }), `${R}.ipVersion`],
  ['rejects mismatched ipVersion for ICMPv6', allow({ protocol: 'ICMPv6', ipVersion: 4 }), `${R}.ipVersion`],
  ['rejects mismatched ipVersion for notProtocol ICMP', allow({ notProtocol: 'ICMP', ipVersion: 6 }), `${R}.ipVersion`],
  ['accepts correct ipVersion for ICMP', allow({ ipVersion: 4, protocol: 'ICMP', icmp: { type: 0 } }), true],
  ['accepts correct ipVersion for ICMPv6', allow({ ipVersion: 6, protocol: 'ICMPv6', icmp: { type: 0 } }), true],
  ['accepts ICMP with no fields', allow({ protocol: 'ICMP', icmp: {} }), true],
  ['accepts ICMP type at max 254', allow({ protocol: 'ICMP', icmp: { type: 254 } }), true],
  ['accepts ICMP type and code 0', allow({ protocol: 'ICMPv6', icmp: { type: 128, code: 0 } }), true],
  ['accepts ICMP type and code 255', allow({ protocol: 'ICMPv6', icmp: { type: 128, code: 255 } }), true],
  ['rejects ICMP code and no type', allow({ protocol: 'ICMP', icmp: { code: 0 } }), `${R}.icmp.code`],
  ['rejects ICMP type too high', allow({ protocol: 'ICMP', icmp: { type: 255 } }), `${R}.icmp.type`],
  ['rejects ICMP code too high', allow({ protocol: 'ICMP', icmp: { type: 128, code: 256 } }), `${R}.icmp.code`],
  ['rejects notICMP code and no type', allow({ protocol: 'ICMP', notICMP: { code: 1 } }), `${R}.notICMP.code`],
  ['accepts notICMP with a type', allow({ protocol: 'ICMP', notICMP: { type: 3, code: 1 } }), true],

  // Nets.
  ['rejects mixed IPv4 (src) and IPv6 (dest)', allow({ protocol: 'TCP', source: { nets: [netv4_3] }, destination: { nets: [netv6_3] } }), `${R}.destination.nets`],
  ['rejects mixed IPv6 (src) and IPv4 (dest)', allow({ protocol: 'TCP', source: { nets: [netv6_2] }, destination: { nets: [netv4_2] } }), `${R}.destination.nets`],
  ['rejects IPv6 version with IPv4 nets', allow({ protocol: 'TCP', ipVersion: 6, source: { nets: [netv4_4] }, destination: { nets: [netv4_2] } }), `${R}.source.nets`],
  ['rejects IPv6 version with IPv4 source net', allow({ protocol: 'TCP', ipVersion: 6, source: { nets: [netv4_1] } }), `${R}.source.nets`],
  ['rejects IPv4 version with IPv6 dest net', allow({ protocol: 'TCP', ipVersion: 4, destination: { nets: [netv6_1] } }), `${R}.destination.nets`],
  ['rejects IPv6 version with IPv4 notNets', allow({ protocol: 'TCP', ipVersion: 6, source: { nets: [netv4_4] }, destination: { notNets: [netv4_2] } }), `${R}.destination.notNets`],
  ['rejects IPv4 and IPv6 in one nets list', allow({ source: { nets: [netv4_1, netv6_1] } }), `${R}.source.nets`],
  ['rejects IPv4 nets with IPv6 notNets', allow({ source: { nets: [netv4_1], notNets: [netv6_1] } }), `${R}.source.notNets`],
  ['accepts matching families and version', allow({ ipVersion: 6, source: { nets: [netv6_1] }, destination: { notNets: [netv6_3] } }), true],
  ['rejects a net with host bits set', allow({ source: { nets: ['10.0.0.1/8'] } }), `${R}.source.nets[0]`],
  ['rejects a bare address in nets', allow({ source: { nets: ['10.0.0.1'] } }), `${R}.source.nets[0]`],
  ['rejects a garbage net', allow({ source: { notNets: ['garbage'] } }), `${R}.source.notNets[0]`],
  ['rejects an IPv4 prefix over 32', allow({ source: { nets: ['1.2.3.0/33'] } }), `${R}.source.nets[0]`],

  // HTTP.
  ['accepts Allow rule with HTTP clause', allow({ http: { methods: ['GET'] } }), true],
  ['rejects Deny rule with HTTP clause', ingressRule({ action: 'Deny', http: { methods: ['GET'] } }), `${R}.http`],
  ['rejects non-TCP protocol with HTTP clause', allow({ protocol: 'UDP', http: { methods: ['GET'] } }), `${R}.protocol`],
  ['accepts TCP protocol with HTTP clause', allow({ protocol: 'TCP', http: { methods: ['GET'] } }), true],
  ['accepts missing protocol with HTTP clause', allow({ http: { methods: ['GET'] } }), true],
  ['accepts HTTP paths with permitted match clauses', allow({ http: { paths: [{ exact: '/foo' }, { prefix: '/bar' }] } }), true],
  ['rejects HTTP path with both exact and prefix', allow({ http: { paths: [{ exact: '/foo', prefix: '/bar' }, { prefix: '/bar' }] } }), `${R}.http.paths[0]`],
  ['rejects HTTP path with ?', allow({ http: { paths: [{ exact: '/fo?o' }] } }), `${R}.http.paths[0]`],
  ['rejects HTTP path with a space', allow({ http: { paths: [{ exact: '/fo o' }] } }), `${R}.http.paths[0]`],
  ['rejects HTTP path with #', allow({ http: { paths: [{ exact: '/f#oo' }] } }), `${R}.http.paths[0]`],
  ['rejects HTTP path not starting with /', allow({ http: { paths: [{ prefix: 'foo' }] } }), `${R}.http.paths[0]`],
  ['rejects empty HTTP path match', allow({ http: { paths: [{}] } }), `${R}.http.paths[0]`],
  ['rejects duplicate HTTP methods', allow({ http: { methods: ['GET', 'GET', 'Foo'] } }), `${R}.http.methods`],

  // Rule metadata.
  ['accepts rule with valid annotations', allow({ metadata: { annotations: { foo: 'bar' } } }), true],
  ['rejects rule with invalid annotations', allow({ metadata: { annotations: { '...': 'bar' } } }), `${R}.metadata.annotations["..."]`],

  // global() selectors.
  ['rejects global() in an entity rule selector', allow({ source: { selector: '  global()  ' } }), `${R}.source.selector`],
  ['accepts global() alone in an entity rule namespaceSelector', allow({ source: { namespaceSelector: '  global()  ' } }), true],
  ["rejects global() AND'd with other expressions", allow({ source: { namespaceSelector: ' global() && all()' } }), `${R}.source.namespaceSelector`],
  ["rejects global() OR'd with other expressions", allow({ source: { namespaceSelector: 'global()||all()' } }), `${R}.source.namespaceSelector`],
  ['rejects bad selectors mixed with global()', allow({ source: { selector: 'global() && bad' } }), `${R}.source.selector`],
  ['accepts global() and projectcalico.org/name namespace selectors',
    allow({ source: { namespaceSelector: 'global()' }, destination: { namespaceSelector: "projectcalico.org/name == 'test'" } }), true],

  // Service accounts.
  ['accepts service account names and selector', allow({ source: { serviceAccounts: { names: ['api', 'search'], selector: "role == 'x'" } } }), true],
];

const svc = { name: 'service1', namespace: 'default' };

const serviceCases: Case[] = [
  ['allows a service in an egress rule destination', np({ egress: [{ action: 'Allow', destination: { services: svc } }] }), true],
  ['disallows a service in an egress rule source', np({ egress: [{ action: 'Allow', source: { services: svc } }] }), 'spec.egress[0].source.services'],
  ['allows a service in an ingress rule source', np({ ingress: [{ action: 'Allow', source: { services: svc } }] }), true],
  ['disallows a service in an ingress rule destination', np({ ingress: [{ action: 'Allow', destination: { services: svc } }] }), 'spec.ingress[0].destination.services'],
  ['disallows services with serviceAccounts', np({ ingress: [{ action: 'Allow', source: { services: svc, serviceAccounts: { names: ['sa'] } } }] }), 'spec.ingress[0].source.services'],
  ['disallows services with ports on an egress destination',
    np({ egress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80], services: svc } }] }), 'spec.egress[0].destination.ports'],
  ['disallows services with notPorts on an egress destination',
    np({ egress: [{ action: 'Allow', protocol: 'TCP', destination: { notPorts: [80], services: svc } }] }), 'spec.egress[0].destination.notPorts'],
  ['allows services with ports on an ingress source', np({ ingress: [{ action: 'Allow', protocol: 'TCP', source: { ports: [80], services: svc } }] }), true],
  ['allows services with notPorts on an ingress source', np({ ingress: [{ action: 'Allow', protocol: 'TCP', source: { notPorts: [80], services: svc } }] }), true],
  ['disallows services with nets', np({ egress: [{ action: 'Allow', destination: { nets: ['10.0.0.0/8'], services: svc } }] }), 'spec.egress[0].destination.services'],
  ['disallows services with notNets', np({ egress: [{ action: 'Allow', destination: { notNets: ['10.0.0.0/8'], services: svc } }] }), 'spec.egress[0].destination.services'],
  ['disallows services with a selector', np({ egress: [{ action: 'Allow', destination: { selector: "x == 'y'", services: svc } }] }), 'spec.egress[0].destination.services'],
  ['disallows services with a notSelector', np({ egress: [{ action: 'Allow', destination: { notSelector: "x == 'y'", services: svc } }] }), 'spec.egress[0].destination.services'],
  ['disallows services with a namespaceSelector', np({ egress: [{ action: 'Allow', destination: { namespaceSelector: "x == 'y'", services: svc } }] }), 'spec.egress[0].destination.services'],
  ['disallows services without a name', np({ egress: [{ action: 'Allow', destination: { services: { namespace: 'default' } } }] }), 'spec.egress[0].destination.services.name'],
  ['disallows a service name that is not a DNS name', np({ egress: [{ action: 'Allow', destination: { services: { name: 'Svc_1' } } }] }), 'spec.egress[0].destination.services.name'],
  ['allows a service without a namespace on a NetworkPolicy', np({ egress: [{ action: 'Allow', destination: { services: { name: 'svc' } } }] }), true],
  ['disallows an ingress destination service on a GNP', gnp({ ingress: [{ action: 'Allow', destination: { services: svc } }] }), 'spec.ingress[0].destination.services'],
  ['disallows a service without a namespace on a GNP (egress)', gnp({ egress: [{ action: 'Allow', destination: { services: { name: 'service1' } } }] }), 'spec.egress[0].destination.services.namespace'],
  ['disallows a service without a namespace on a GNP (ingress)', gnp({ ingress: [{ action: 'Allow', source: { services: { name: 'service1' } } }] }), 'spec.ingress[0].source.services.namespace'],
  ['disallows services with a namespaceSelector on a GNP', gnp({ ingress: [{ action: 'Allow', source: { namespaceSelector: "x == 'y'", services: svc } }] }), 'spec.ingress[0].source.services'],
  ['allows a namespaced service on a GNP', gnp({ egress: [{ action: 'Allow', destination: { services: svc } }] }), true],
];

const gnpCases: Case[] = [
  // Names.
  ['GNP: disallows a name with invalid characters', gnp({}, 't~!s.h.i.ng'), 'metadata.name'],
  ['GNP: disallows a mixed-case name', gnp({}, 'tHiNg'), 'metadata.name'],
  ['GNP: allows a valid name', gnp({}, 'thing'), true],
  ['GNP: allows a name with one dot', gnp({}, 'th.ing'), true],
  ['GNP: disallows a k8s policy name', gnp({}, 'knp.default.thing'), 'metadata.name'],
  ['GNP: disallows a name with several dots', gnp({}, 't.h.i.ng'), 'metadata.name'],
  ['GNP: disallows a name ending in a dot', gnp({}, 'thing.'), 'metadata.name'],
  ['GNP: allows a name of 253 characters', gnp({}, longName(253)), true],
  ['GNP: disallows a name of 254 characters', gnp({}, longName(254)), 'metadata.name'],

  // preDNAT / doNotTrack / applyOnForward.
  ['rejects both preDNAT and doNotTrack', gnp({ preDNAT: true, doNotTrack: true, applyOnForward: true }), 'spec.preDNAT'],
  ['accepts preDNAT but not doNotTrack', gnp({ preDNAT: true, applyOnForward: true }), true],
  ['accepts doNotTrack but not preDNAT', gnp({ preDNAT: false, doNotTrack: true, applyOnForward: true }), true],
  ['rejects preDNAT egress rules', gnp({ preDNAT: true, applyOnForward: true, egress: [{ action: 'Allow' }] }), 'spec.egress'],
  ['accepts preDNAT ingress rules', gnp({ preDNAT: true, applyOnForward: true, ingress: [{ action: 'Allow' }] }), true],
  ['accepts applyOnForward without preDNAT', gnp({ preDNAT: false, applyOnForward: true }), true],
  ['accepts applyOnForward without doNotTrack', gnp({ doNotTrack: false, applyOnForward: true }), true],
  ['accepts no applyOnForward, doNotTrack or preDNAT', gnp({ preDNAT: false, doNotTrack: false, applyOnForward: false }), true],
  ['rejects preDNAT without applyOnForward', gnp({ preDNAT: true, applyOnForward: false }), 'spec.applyOnForward'],
  ['rejects doNotTrack without applyOnForward', gnp({ doNotTrack: true }), 'spec.applyOnForward'],
  ['rejects a string boolean', gnp({ doNotTrack: 'true', applyOnForward: true }), 'spec.doNotTrack'],

  // Types.
  ['GNP: allows missing types', gnp({}), true],
  ['GNP: allows empty types', gnp({ types: [] }), true],
  ['GNP: allows ingress types', gnp({ types: ['Ingress'] }), true],
  ['GNP: allows egress types', gnp({ types: ['Egress'] }), true],
  ['GNP: allows ingress+egress types', gnp({ types: ['Ingress', 'Egress'] }), true],
  ['GNP: disallows repeated egress types', gnp({ types: ['Egress', 'Egress'] }), 'spec.types[1]'],
  ['GNP: disallows an unexpected type', gnp({ types: ['unexpected'] }), 'spec.types[0]'],
  ['GNP: disallows a lower-case type', gnp({ types: ['ingress'] }), 'spec.types[0]'],
  ['GNP: allows types without ingress when ingress rules are present', gnp({ ingress: [{ action: 'Allow' }], types: ['Egress'] }), true],
  ['GNP: allows types without egress when egress rules are present', gnp({ egress: [{ action: 'Allow' }], types: ['Ingress'] }), true],
  ['GNP: allows ingress types with ingress rules', gnp({ ingress: [{ action: 'Allow' }], types: ['Ingress'] }), true],
  ['GNP: allows both types with ingress rules', gnp({ ingress: [{ action: 'Allow' }], types: ['Ingress', 'Egress'] }), true],
  ['GNP: allows egress types with egress rules', gnp({ egress: [{ action: 'Allow' }], types: ['Egress'] }), true],
  ['GNP: allows both types with egress rules', gnp({ egress: [{ action: 'Allow' }], types: ['Ingress', 'Egress'] }), true],
  ['GNP: allows ingress types with preDNAT', gnp({ preDNAT: true, applyOnForward: true, types: ['Ingress'] }), true],
  ['GNP: disallows egress types with preDNAT', gnp({ preDNAT: true, applyOnForward: true, types: ['Egress'] }), 'spec.types'],
  ['GNP: disallows both types with preDNAT', gnp({ preDNAT: true, applyOnForward: true, types: ['Ingress', 'Egress'] }), 'spec.types'],
  ['GNP: disallows HTTP in an egress rule', gnp({ egress: [{ action: 'Allow', http: { methods: ['GET'] } }], types: ['Ingress', 'Egress'] }), 'spec.egress[0].http'],
  ['GNP: disallows global() in namespaceSelector', gnp({ namespaceSelector: 'global()' }), 'spec.namespaceSelector'],
  ['GNP: disallows global() in selector', gnp({ selector: 'global()' }), 'spec.selector'],
  ['GNP: disallows global() in serviceAccountSelector', gnp({ serviceAccountSelector: 'global()' }), 'spec.serviceAccountSelector'],
  ['GNP: allows a namespaceSelector with not in', gnp({ namespaceSelector: 'kubernetes.io/metadata.name not in {"kube-system", "calico-system"}' }), true],
  ['GNP: rejects an invalid namespaceSelector', gnp({ namespaceSelector: 'a ==' }), 'spec.namespaceSelector'],
  ['GNP: accepts order 0 and fractional orders', gnp({ order: 0.5 }), true],
  ['GNP: rejects a string order', gnp({ order: '10' }), 'spec.order'],
  ['GNP: accepts the AssumeNeededOnEveryNode hint', gnp({ performanceHints: ['AssumeNeededOnEveryNode'] }), true],
  ['GNP: rejects an unknown performance hint', gnp({ performanceHints: ['Fast'] }), 'spec.performanceHints[0]'],
  ['GNP: rejects a repeated performance hint', gnp({ performanceHints: ['AssumeNeededOnEveryNode', 'AssumeNeededOnEveryNode'] }), 'spec.performanceHints[1]'],
  ['GNP: accepts a policy in another tier', gnp({ tier: 'security' }, 'security.block'), true],
  ['GNP: rejects a tier that is not a DNS name', gnp({ tier: 'Bad_Tier' }), 'spec.tier'],
  ['GNP: rejects more than 1024 rules', gnp({ ingress: Array.from({ length: 1025 }, () => ({ action: 'Allow' })) }), 'spec.ingress'],
];

const npCases: Case[] = [
  ['NP: allows a valid name', np({}, 'thing'), true],
  ['NP: allows a name with a single dot (tier)', np({}, 'th.ing'), true],
  ['NP: disallows a name with several dots', np({}, 't.h.i.ng'), 'metadata.name'],
  ['NP: disallows a mixed-case name', np({}, 'tHiNg'), 'metadata.name'],
  ['NP: allows a name of 253 characters', np({}, longName(253)), true],
  ['NP: disallows a name of 254 characters', np({}, longName(254)), 'metadata.name'],
  ['NP: allows a k8s policy name', np({}, 'knp.default.thing'), true],
  ['NP: allows a k8s policy name with more dots', np({}, 'knp.default.my.policy'), true],
  ['NP: disallows other three-part names', np({}, 'abc.default.thing'), 'metadata.name'],
  ['NP: disallows an underscore', np({}, 'my_policy'), 'metadata.name'],
  ['NP: allows missing types', np({}), true],
  ['NP: allows empty types', np({ types: [] }), true],
  ['NP: allows ingress types', np({ types: ['Ingress'] }), true],
  ['NP: allows egress types', np({ types: ['Egress'] }), true],
  ['NP: allows ingress+egress types', np({ types: ['Ingress', 'Egress'] }), true],
  ['NP: disallows repeated egress types', np({ types: ['Egress', 'Egress'] }), 'spec.types[1]'],
  ['NP: disallows an unexpected type', np({ types: ['unexpected'] }), 'spec.types[0]'],
  ['NP: allows types without ingress when ingress rules are present', np({ ingress: [{ action: 'Allow' }], types: ['Egress'] }), true],
  ['NP: allows types without egress when egress rules are present', np({ egress: [{ action: 'Allow' }], types: ['Ingress'] }), true],
  ['NP: disallows HTTP in an egress rule', np({ egress: [{ action: 'Allow', http: { methods: ['GET'] } }], types: ['Ingress', 'Egress'] }), 'spec.egress[0].http'],
  ['NP: disallows global() in selector', np({ selector: 'global()' }), 'spec.selector'],
  ['NP: disallows global() in serviceAccountSelector', np({ serviceAccountSelector: 'global()' }), 'spec.serviceAccountSelector'],
  ['NP: allows global() in an entity rule namespaceSelector',
    np({ ingress: [{ action: 'Allow', source: { namespaceSelector: 'global()' }, destination: { namespaceSelector: "projectcalico.org/name == 'test'" } }] }), true],
  ['NP: rejects an invalid selector', np({ selector: 'role = db' }), 'spec.selector'],
  ['NP: rejects an invalid namespace', { ...np({}), metadata: { name: 'p', namespace: 'Bad_NS' } }, 'metadata.namespace'],
];

const tierCases: Case[] = [
  ['Tier: valid name', tier('foo'), true],
  ['Tier: valid name with dash', tier('fo-o'), true],
  ['Tier: disallows a dot in the name', tier('fo.o'), 'metadata.name'],
  ['Tier: allows a name of 63 characters', tier(longName(63)), true],
  ['Tier: disallows a name of 64 characters', tier(longName(64)), 'metadata.name'],
  ['Tier: disallows other characters', tier('t~!s.h.i.ng'), 'metadata.name'],
  ['Tier: disallows upper case', tier('Foo'), 'metadata.name'],
];

const stagedCases: Case[] = [
  ['SGNP: accepts a default-tier name with the default. prefix',
    { apiVersion: 'projectcalico.org/v3', kind: 'StagedGlobalNetworkPolicy', metadata: { name: 'default.allow' }, spec: { tier: 'default', stagedAction: 'Set' } }, true],
  ['SGNP: rejects an unknown stagedAction',
    { apiVersion: 'projectcalico.org/v3', kind: 'StagedGlobalNetworkPolicy', metadata: { name: 'p' }, spec: { stagedAction: 'Remove' } }, 'spec.stagedAction'],
  ['SGNP: applies GNP rules (preDNAT needs applyOnForward)',
    { apiVersion: 'projectcalico.org/v3', kind: 'StagedGlobalNetworkPolicy', metadata: { name: 'p' }, spec: { preDNAT: true } }, 'spec.applyOnForward'],
  ['SGNP: accepts Delete with only a tier',
    { apiVersion: 'projectcalico.org/v3', kind: 'StagedGlobalNetworkPolicy', metadata: { name: 'p' }, spec: { stagedAction: 'Delete', tier: 'default' } }, true],
  ['SGNP: rejects Delete with a selector',
    { apiVersion: 'projectcalico.org/v3', kind: 'StagedGlobalNetworkPolicy', metadata: { name: 'p' }, spec: { stagedAction: 'Delete', selector: 'all()' } }, 'spec.selector'],
  ['SNP: accepts Learn with rules',
    { apiVersion: 'projectcalico.org/v3', kind: 'StagedNetworkPolicy', metadata: { name: 'p', namespace: 'ns' }, spec: { stagedAction: 'Learn', ingress: [{ action: 'Allow' }] } }, true],
  ['SNP: rejects Delete with ingress rules',
    { apiVersion: 'projectcalico.org/v3', kind: 'StagedNetworkPolicy', metadata: { name: 'p', namespace: 'ns' }, spec: { stagedAction: 'Delete', ingress: [{ action: 'Allow' }] } }, 'spec.ingress'],
  ['SNP: rejects GNP-only fields',
    { apiVersion: 'projectcalico.org/v3', kind: 'StagedNetworkPolicy', metadata: { name: 'p', namespace: 'ns' }, spec: { doNotTrack: true } }, 'spec'],
  ['SNP: checks rules',
    { apiVersion: 'projectcalico.org/v3', kind: 'StagedNetworkPolicy', metadata: { name: 'p', namespace: 'ns' }, spec: { ingress: [{ action: 'Allow', destination: { ports: [80] } }] } }, 'spec.ingress[0].destination.ports'],
];

const sknp = (spec: Obj): Obj => ({ apiVersion: 'projectcalico.org/v3', kind: 'StagedKubernetesNetworkPolicy', metadata: { name: 'p', namespace: 'ns' }, spec });

const sknpCases: Case[] = [
  ['SKNP: accepts an empty pod selector', sknp({ podSelector: {} }), true],
  ['SKNP: accepts ports with names, numbers and ranges',
    sknp({ podSelector: {}, ingress: [{ ports: [{ port: 'http' }, { protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 32000, endPort: 32768 }] }] }), true],
  ['SKNP: rejects port 0', sknp({ ingress: [{ ports: [{ port: 0 }] }] }), 'spec.ingress[0].ports[0].port'],
  ['SKNP: rejects an unknown port protocol', sknp({ ingress: [{ ports: [{ protocol: 'ICMP', port: 1 }] }] }), 'spec.ingress[0].ports[0].protocol'],
  ['SKNP: rejects endPort with a named port', sknp({ ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }), 'spec.ingress[0].ports[0].endPort'],
  ['SKNP: rejects endPort below port', sknp({ egress: [{ ports: [{ port: 100, endPort: 90 }] }] }), 'spec.egress[0].ports[0].endPort'],
  ['SKNP: rejects ipBlock with a podSelector', sknp({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }), 'spec.ingress[0].from[0].ipBlock'],
  ['SKNP: rejects an except outside the cidr', sknp({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24', except: ['10.1.0.0/24'] } }] }] }), 'spec.egress[0].to[0].ipBlock.except[0]'],
  ['SKNP: rejects a bad cidr', sknp({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0' } }] }] }), 'spec.egress[0].to[0].ipBlock.cidr'],
  ['SKNP: rejects an empty peer', sknp({ ingress: [{ from: [{}] }] }), 'spec.ingress[0].from[0]'],
  ['SKNP: rejects In without values', sknp({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }), 'spec.podSelector.matchExpressions[0].values'],
  ['SKNP: rejects Exists with values', sknp({ podSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] } }), 'spec.podSelector.matchExpressions[0].values'],
  ['SKNP: rejects a bad label value', sknp({ podSelector: { matchLabels: { a: 'not valid!' } } }), 'spec.podSelector.matchLabels.a'],
  ['SKNP: rejects repeated policyTypes', sknp({ policyTypes: ['Ingress', 'Ingress'] }), 'spec.policyTypes[1]'],
  ['SKNP: rejects Calico fields', sknp({ selector: 'all()' }), 'spec'],
  ['SKNP: rejects Delete with a pod selector', sknp({ stagedAction: 'Delete', podSelector: { matchLabels: { a: 'b' } } }), 'spec.podSelector'],
  ['SKNP: accepts Delete alone', sknp({ stagedAction: 'Delete' }), true],
];

for (const [title, cases] of [
  ['rules (validator_test.go)', ruleCases],
  ['service matches', serviceCases],
  ['GlobalNetworkPolicy', gnpCases],
  ['NetworkPolicy', npCases],
  ['Tier names', tierCases],
  ['staged policies', stagedCases],
  ['StagedKubernetesNetworkPolicy', sknpCases],
] as const) {
  describe(title, () => {
    for (const c of cases) it(c[0], () => runCase(c));
  });
}
