"""page_owner: read /sys/kernel/debug/page_owner to its end, with page_owner=on.

read_page_owner() walks every PFN of every zone, validating once per MAX_ORDER block
and then stepping pfn++ inside it (one of the walks KS002 reports, and the reason
that rule exists; kernel-history.md A12).  Over this layout's holes, the walk must
finish without a splat.  Kernels without CONFIG_PAGE_OWNER (Debian's cloud image)
have no such file, and the probe says so.
"""

from __future__ import annotations

import re

from kscan.model.context import ModelContext
from kscan.vm.probes.base import Probe, ProbeResult


class PageOwner(Probe):
    name = "page_owner"
    summary = "read /sys/kernel/debug/page_owner over every PFN (needs CONFIG_PAGE_OWNER)"
    cmdline = "page_owner=on"

    def guest(self, ctx: ModelContext) -> str:
        return """mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
f=/sys/kernel/debug/page_owner
if [ -r $f ]; then
    echo "records $(grep -c '^Page allocated via order' $f)"
else
    echo "unavailable"
fi"""

    def judge(self, ctx: ModelContext, output: str | None) -> ProbeResult:
        text = output or ""
        records = re.search(r"^records (\d+)", text, re.M)
        if records:
            return ProbeResult(
                self.name, f"read page_owner to its end: {records[1]} allocations recorded"
            )
        if "unavailable" in text:
            return ProbeResult(
                self.name,
                "not run: no /sys/kernel/debug/page_owner (kernel without CONFIG_PAGE_OWNER)",
            )
        return ProbeResult(self.name, "the guest did not finish reading page_owner")
