/**
 * One test per rule of Calico 3.32's v3 validator that the parity cases cover (parity-cases.ts):
 * each case cites the rule of validator.go (or the field tag) it mirrors, is refused with
 * MARGAY_ERR_VALIDATION, and the error names the field path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResourceValidationError, validateResource } from '../../src/api/validate.ts';
import { INVALID_CASES, VALID_CASES } from './parity-cases.ts';

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

  it('covers every rule family of validator.go at least once', () => {
    const families = new Set(INVALID_CASES.map((c) => c.rule.split(/[: ]/)[0]));
    for (const f of ['validateRule', 'validateEntityRule', 'validateICMPFields', 'validateIPPoolSpec', 'validateBGPPeerSpec', 'validateFelixConfigSpec', 'validateHostEndpointSpec', 'validateWorkloadEndpointSpec', 'validateNodeSpec', 'validateIPAMConfigSpec', 'validateGlobalNetworkPolicySpec', 'validateBGPConfigurationSpec', 'validateBGPFilterRule', 'validateBGPFilterOperation', 'validateTier', 'validateNetworkPolicySpec', 'validateNetworkSet', 'validateStagedNetworkPolicy', 'validateWorkloadEndpointPort', 'validateEndpointPort', 'validateProtoPort']) {
      assert.ok(families.has(f), `no case for ${f}`);
    }
  });
});
