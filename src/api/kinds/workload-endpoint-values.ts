/** Value checks of WorkloadEndpoint fields, shared by its schema and its quick parse. */

/** Go's `net.ParseMAC`: 6, 8 or 20 bytes as `aa:bb:..`, `aa-bb-..` or `aabb.ccdd.eeff`. */
export function isValidMac(s: string): boolean {
  if (s.length < 14) return false;
  const hex2 = /^[0-9a-fA-F]{2}$/;
  const hex4 = /^[0-9a-fA-F]{4}$/;
  if (s[2] === ':' || s[2] === '-') {
    const groups = s.split(s[2]);
    return [6, 8, 20].includes(groups.length) && groups.every((g) => hex2.test(g));
  }
  if (s[4] === '.') {
    const groups = s.split('.');
    return [6, 8, 20].includes(groups.length * 2) && groups.every((g) => hex4.test(g));
  }
  return false;
}

const CONTAINER_ID = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

/** A container ID as `spec.containerID` takes it: letters, digits and inner dashes. */
export function isContainerId(s: string): boolean {
  return CONTAINER_ID.test(s);
}
