/** Margay's version and the Calico API version it speaks. */
export const MARGAY_VERSION = '0.1.0';
export const CALICO_API_COMPATIBILITY = 'projectcalico.org/v3';
