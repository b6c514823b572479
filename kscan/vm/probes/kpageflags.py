"""kpageflags: read /proc/kpageflags over every PFN and hold each page's flags against
the model's state for that PFN.

Reading the file walks every PFN from 0 to max_pfn through pfn_to_online_page()
(fs/proc/page.c), across holes and absent sections.  The guest sends it gzipped
(a 2 GiB guest's 4 MiB compress to about 7 KiB) and the host checks:

  - an absent section, an offline block, and a 2 MiB subsection without RAM have no
    page: KPF_NOPAGE (pfn_to_online_page() asks the subsection map);
  - a hole inside a subsection with RAM has an initialised, reserved page:
    KPF_RESERVED (5.15+; before, hole pages could be uninitialised, and are not checked);
  - RAM has a page: no KPF_NOPAGE;
  - the file ends at max_pfn rounded up to a section (get_max_dump_pfn()).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import struct

from kscan.model.context import ModelContext
from kscan.model.ranges import PfnRange, intersection, subtract
from kscan.vm.compare import Check
from kscan.vm.probes.base import Probe, ProbeResult

KPF_BUDDY = 1 << 10
KPF_NOPAGE = 1 << 20
KPF_RESERVED = 1 << 32


class KpageflagsWalk(Probe):
    name = "kpageflags"
    summary = "read /proc/kpageflags over every PFN; flags against the model's page states"

    def guest(self, ctx: ModelContext) -> str:
        return "gzip -1 < /proc/kpageflags | base64"

    def judge(self, ctx: ModelContext, output: str | None) -> ProbeResult:
        if not output:
            return ProbeResult(self.name, "the guest did not read kpageflags")
        try:
            flags = _decode(output)
        except (binascii.Error, OSError, EOFError, ValueError) as err:
            return ProbeResult(self.name, f"could not read the guest's kpageflags: {err}")
        memmap = ctx.memmap
        section = ctx.geometry.section_pages
        dumped = -(-memmap.ram[-1].end // section) * section
        checks = [
            Check(
                "kpageflags",
                "PFNs read (max_pfn to its section's end)",
                f"{dumped:#x}",
                f"{len(flags):#x}",
                len(flags) == dumped,
            ),
            _expect(flags, "absent sections: no page", memmap.absent, KPF_NOPAGE, True),
            _expect(flags, "offline blocks: no page", memmap.offline, KPF_NOPAGE, True),
            _expect(flags, "RAM: a page", memmap.online, KPF_NOPAGE, False),
        ]
        empty_subsections = subtract(memmap.present, memmap.subsections)
        checks.append(
            _expect(flags, "subsections without RAM: no page", empty_subsections, KPF_NOPAGE, True)
        )
        if not ctx.holes_in_zone_era:
            holes = intersection(memmap.holes, memmap.subsections)
            checks.append(_expect(flags, "holes: reserved page", holes, KPF_RESERVED, True))
        free = sum(1 for f in flags if f & KPF_BUDDY)
        nopage = sum(1 for f in flags if f & KPF_NOPAGE)
        outcome = f"read {len(flags)} PFNs: {nopage} without a page, {free} free (KPF_BUDDY)"
        return ProbeResult(self.name, outcome, [c for c in checks if c is not None])


def _decode(output: str) -> list[int]:
    raw = gzip.decompress(base64.b64decode("".join(output.split()), validate=True))
    if len(raw) % 8:
        raise ValueError(f"{len(raw)} bytes is not a whole number of 8-byte entries")
    return [value for (value,) in struct.iter_unpack("<Q", raw)]


def _expect(
    flags: list[int], subject: str, ranges: list[PfnRange], bit: int, wanted: bool
) -> Check | None:
    """Every PFN of `ranges` below the end of the file has `bit` set (or clear)."""
    pfns = [PfnRange(r.start, min(r.end, len(flags))) for r in ranges if r.start < len(flags)]
    total = sum(r.size for r in pfns)
    if not total:
        return None
    wrong = [pfn for r in pfns for pfn in range(*r) if bool(flags[pfn] & bit) != wanted]
    note = ""
    if wrong:
        note = f"{len(wrong)} PFNs differ, the first at {wrong[0]:#x} (flags {flags[wrong[0]]:#x})"
    return Check(
        "kpageflags", subject, f"{total} PFNs", f"{total - len(wrong)} PFNs", not wrong, note
    )
