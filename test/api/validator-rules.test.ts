/**
 * One test per rule of Calico 3.32's v3 validator that the parity cases cover (parity-cases.ts):
 * each case cites the rule of validator.go (or the field tag) it mirrors, is refused with
 * MARGAY_ERR_VALIDATION, and the error names the field path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResourceValidationError, validateResource } from '../../src/api/validate.ts';
import { INVALID_CASES, VALID_CASES } from './parity-cases.ts';

/**
 * What validator.go registers in Calico 3.32: field validators by function (by tag for the
 * RegexValidator ones) and struct validators.
 */
const FIELD_VALIDATORS = [
  'validateAction', 'validateInterface', 'validateBGPFilterInterface', 'validateBGPFilterPrefixLengthV4', 'validateBGPFilterPrefixLengthV6',
  'validateIgnoredInterface', 'validateDatastoreType', 'validateName', 'validateContainerID', 'validateSelector', 'validateLabels',
  'validateIPVersion', 'validateIPIPMode', 'validateStagedAction', 'validateVXLANMode', 'validateAssignmentMode', 'validateAssignIPs',
  'validatePolicyType', 'validateLogLevel', 'validateBPFLogLevel', 'validateBPFLogFilters', 'validateBPFServiceMode',
  'validateBPFConnectTimeLoadBalancing', 'validateBPFHostNetworkedNat', 'validateFelixEtoHAction', 'validateAcceptReturn',
  'validateDropReject', 'validatePortName', 'validateMustBeNil', 'validateMustBeFalse', 'validateIfaceFilter', 'validateInterfaceSlice',
  'validateIfaceFilterSlice', 'validateMAC', 'validateIptablesBackend', 'validateKeyValueList', 'validatePrometheusHost', 'validateIPType',
  'validateCreateDefaultHostEndpoint', 'sourceAddress', 'validateRegexp', 'validateRouteSource', 'validateWireguardPublicKey',
  'validateIPPort', 'validateReachableByField', 'filterAction', 'matchOperator', 'validateIPv4Network', 'validateIPv6Network',
  'validateIPNetwork', 'validateIPv4', 'validateIPv6', 'validateCIDRv4', 'validateCIDRv6', 'validateCIDR', 'validateCIDRs',
];
const STRUCT_VALIDATORS = [
  'validateProtocol', 'validateProtoPort', 'validatePort', 'validateEndpointPort', 'validateWorkloadEndpointPort', 'validateIPNAT',
  'validateICMPFields', 'validateIPPoolSpec', 'validateNodeSpec', 'validateIPAMConfigSpec', 'validateObjectMeta', 'validateTier',
  'validateHTTPRule', 'validateFelixConfigSpec', 'validateWorkloadEndpointSpec', 'validateHostEndpointSpec', 'validateRule',
  'validateEntityRule', 'validateBGPPeerSpec', 'validateBGPFilterRuleV4', 'validateBGPFilterRuleV6', 'validateBGPFilterOperation',
  'validateNetworkPolicy', 'validateGlobalNetworkPolicy', 'validateStagedGlobalNetworkPolicy', 'validateStagedNetworkPolicy',
  'validateStagedKubernetesNetworkPolicy', 'validateGlobalNetworkSet', 'validateNetworkSet', 'validateRuleMetadata',
  'validateRouteTableIDRange', 'validateRouteTableRange', 'validateBGPConfigurationSpec', 'validateBlockAffinitySpec',
  'validateHealthTimeoutOverride',
];
/** Validators that check nothing `margay apply` takes. */
const NOT_APPLICABLE: Record<string, string> = {
  validateDatastoreType: 'CalicoAPIConfig (the client configuration), read by the CLI, not a resource',
  validateWireguardPublicKey: "a Node's status, which apply never writes",
  validateInterfaceSlice: 'registered, but no field of the 3.32 API is tagged interfaceSlice',
  validateBlockAffinitySpec: 'BlockAffinity is an IPAM record that apply does not take (docs/compatibility.md)',
};

describe('validator.go rules (parity cases)', () => {
  for (const c of INVALID_CASES) {
    // The case's `rule` names the rule of validator.go it mirrors.
    it(`${c.rule} — refuses ${c.title} at ${c.path}`, () => {
      assert.throws(
        () => validateResource(structuredClone(c.object)),
        (err: unknown) => {
          assert.ok(err instanceof ResourceValidationError, String(err));
          assert.equal(err.code, 'MARGAY_ERR_VALIDATION');
          assert.ok(err.issues.some((i) => i.path === c.path), `wanted ${c.path}, got ${err.issues.map((i) => i.path).join(', ')}: ${err.message}`);
          return true;
        },
      );
    });
  }

  for (const c of VALID_CASES) {
    it(`${c.rule} — accepts ${c.title}`, () => {
      assert.doesNotThrow(() => validateResource(structuredClone(c.object)));
    });
  }

  it('cites every validator validator.go registers, or says why it does not apply', () => {
    const cited = [...INVALID_CASES, ...VALID_CASES].map((c) => c.rule).join('\n');
    // Every name is a plain identifier, so it can go into a word-bounded pattern as it is.
    const missing = [...FIELD_VALIDATORS, ...STRUCT_VALIDATORS].filter((name) => !NOT_APPLICABLE[name] && !new RegExp(`\\b${name}\\b`).test(cited));
    assert.deepEqual(missing, []);
  });
});
