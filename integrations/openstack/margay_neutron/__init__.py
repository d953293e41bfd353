"""Margay's Neutron ML2 mechanism driver (docs/openstack.md).

Neutron owns networks, ports and security groups; this driver turns them into Calico-shaped
resources in etcd (WorkloadEndpoints, NetworkPolicies, DHCP subnet data) in networking-calico's
layout, binds ports only on hosts that run a Margay agent and reports port status back to Neutron
from the agents' endpoint status keys.
"""
