import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/api/mod.ts';
import { dataplaneSettings, openstackActive } from '../../src/calc/mod.ts';
import { parseLinkLine } from '../../src/dataplane/links/monitor.ts';
import { qemuArgs } from '../../src/lab/vm/qemu.ts';

describe('openstack host - detection and settings', () => {
  it('turns the special cases on as Felix does (cluster type, metadata, tap prefix)', () => {
    const base = defaultConfig('h');
    assert.equal(openstackActive(base), false);
    assert.equal(dataplaneSettings(base).openstack, undefined);
    assert.equal(openstackActive({ ...base, clusterType: 'k8s,OpenStack' }), true);
    assert.equal(openstackActive({ ...base, metadataPort: 9000 }), true);
    assert.equal(openstackActive({ ...base, interfacePrefix: 'cali,tap' }), true);
    assert.deepEqual(dataplaneSettings({ ...base, interfacePrefix: 'tap' }).openstack, { metadataAddr: '127.0.0.1', metadataPort: 8775 });
    assert.deepEqual(dataplaneSettings({ ...base, metadataAddr: 'none', clusterType: 'openstack' }).openstack, { metadataPort: 8775 });
  });
});

describe('openstack host - link monitor lines', () => {
  it('reads names of new, changed and deleted links', () => {
    assert.deepEqual(parseLinkLine('12: tap1234567890a: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noop state DOWN'), { name: 'tap1234567890a', deleted: false, up: true });
    assert.deepEqual(parseLinkLine('2: cali1@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN'), { name: 'cali1', deleted: false, up: false });
    assert.deepEqual(parseLinkLine('3: cali2@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500'), { name: 'cali2', deleted: false, up: true });
    assert.deepEqual(parseLinkLine('Deleted 12: tapx@if3: <BROADCAST> mtu 1500'), { name: 'tapx', deleted: true, up: false });
    assert.equal(parseLinkLine('    link/ether 8a:63:5c:b5:9e:39 brd ff:ff:ff:ff:ff:ff'), undefined);
  });
});

describe('openstack host - the VM command line', () => {
  it('boots a microvm directly on the tap, console on a socket', () => {
    const args = qemuArgs({ name: 'vm1', image: { kernel: '/k', initrd: '/i' }, tap: 'tapabc', mac: 'fa:16:3e:00:00:01', consoleSocket: '/s', consoleLog: '/l', tscKhz: 2596134 });
    const at = (flag: string) => args[args.indexOf(flag) + 1];
    assert.equal(at('-M'), 'microvm,rtc=on,pit=on,pic=on');
    assert.equal(at('-kernel'), '/k');
    // The TSC's frequency given, so the kernel does not calibrate it against the emulated PIT.
    assert.match(at('-append')!, / tsc_early_khz=2596134 /);
    assert.equal(at('-netdev'), 'tap,id=n0,ifname=tapabc,script=no,downscript=no');
    assert.equal(at('-device'), 'virtio-net-device,netdev=n0,mac=fa:16:3e:00:00:01');
    assert.match(at('-chardev')!, /^socket,id=con0,path=\/s,server=on,wait=off,logfile=\/l$/);
  });
});
