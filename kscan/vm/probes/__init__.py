"""Probes: drive the kernel paths kscan ranks hot, inside the VM, after the comparison.

One module per probe, its documentation at the top.  A probe gives the guest a shell
function to run (its output becomes the part `probe:NAME`), may add kernel
arguments, and reads the output back against the model into a ProbeResult.  Kernel
splats between the probe's markers are added to its result by the session.
"""

from __future__ import annotations

from kscan.vm.probes.base import Probe, ProbeResult
from kscan.vm.probes.compaction import Compaction
from kscan.vm.probes.hugetlb import GiganticHugetlb
from kscan.vm.probes.kpageflags import KpageflagsWalk
from kscan.vm.probes.offline import OfflineBlocks
from kscan.vm.probes.page_owner import PageOwner

# In the order they run: kpageflags reads the memmap before anything is offlined.
PROBES: dict[str, Probe] = {
    p.name: p
    for p in (KpageflagsWalk(), Compaction(), PageOwner(), OfflineBlocks(), GiganticHugetlb())
}

__all__ = ["PROBES", "Probe", "ProbeResult"]
