"""`kscan vm`: boot a real kernel with the model's holes and hold the model against
what the kernel reports.

| module | what |
| --- | --- |
| `kernel.py` | the bzImage to boot and its version |
| `busybox.py` | a static busybox: given, the system's, or Debian's busybox-static |
| `initramfs.py` | a newc cpio archive, written in Python (no root, no cpio binary) |
| `guest.py` | the guest's /init: collect, probe, power off, with sentinels |
| `qemu.py` | run QEMU (KVM if it really works, else TCG), always torn down |
| `console.py` | the serial console split into /init's parts and the kernel log |
| `kernel_view.py` | parsers for /proc/iomem, zoneinfo, buddyinfo, pagetypeinfo, memory blocks |
| `expect.py` | what the model says the kernel must show |
| `compare.py` | the checks: model against kernel |
| `splats.py` | oopses, BUGs and WARNs in the log |
| `probes/` | one module per probe |
| `session.py` | the whole run; `report.py` renders it |
"""

from kscan.vm.errors import VmSetupError
from kscan.vm.probes import PROBES
from kscan.vm.qemu import ACCELS
from kscan.vm.report import render
from kscan.vm.session import DEFAULT_TIMEOUT, VmRequest, VmResult, run_vm

__all__ = [
    "ACCELS",
    "DEFAULT_TIMEOUT",
    "PROBES",
    "VmRequest",
    "VmResult",
    "VmSetupError",
    "render",
    "run_vm",
]
