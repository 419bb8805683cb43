#!/usr/bin/python3
"""nova-compute for the local test cloud, without a hypervisor package.

Debian's nova-compute package pulls in libvirt/qemu; its binary is only this entry point. Nova's fake
virt driver (compute_driver=fake.MediumFakeDriver) keeps instances in memory; its capacity comes from
class attributes, set here before Nova starts: 8 vCPUs (OPENSTACK_COMPUTE_VCPUS), 16384 MB RAM
(OPENSTACK_COMPUTE_MEMORY_MB), 200 GB disk (OPENSTACK_COMPUTE_DISK_GB).
Run: nova-compute.py --config-file nova.conf --config-file compute-N.conf
"""

import os
import sys

# nova.cmd monkey-patches eventlet on import: import it before anything else of Nova.
from nova.cmd import compute  # noqa: E402
from nova.virt import fake  # noqa: E402

for driver in (fake.FakeDriver, fake.MediumFakeDriver):
    driver.vcpus = int(os.environ.get("OPENSTACK_COMPUTE_VCPUS", "8"))
    driver.memory_mb = int(os.environ.get("OPENSTACK_COMPUTE_MEMORY_MB", "16384"))
    driver.local_gb = int(os.environ.get("OPENSTACK_COMPUTE_DISK_GB", "200"))

if __name__ == "__main__":
    sys.argv[0] = "nova-compute"
    sys.exit(compute.main())
