"""kscan's model of memory geometry and the buddy allocator, to judge findings by.

    ctx = ModelContext.for_preset("arm64-4k", holes_in_zone_era=True)
    verdict_for_walk(finding.walk, ctx)     # Verdict("breaks", "arm64-4k", "...witness...")

See README.md in this directory for the layout formats and for booting a VM with holes.
"""

from kscan.model.archtree import presets_from_tree
from kscan.model.buddy import Buddy, BuddyError
from kscan.model.cmdline import BootRecipe, emit_cmdline
from kscan.model.context import ModelContext
from kscan.model.crosscheck import (
    BREAKS,
    SAFE,
    UNKNOWN,
    VerdictChange,
    newly_breaking,
    severity_for,
    verdict_for_bytes,
    verdict_for_order,
    verdict_for_walk,
)
from kscan.model.defaults import default_layout
from kscan.model.geometry import PRESETS, Geometry, MaxOrderMeaning, largest_order, preset
from kscan.model.layout import (
    Layout,
    LayoutError,
    MemRange,
    load_layout,
    loads_layout,
    parse_e820,
    parse_iomem,
    parse_memmap_cmdline,
)
from kscan.model.memmap import Memmap, PageState
from kscan.model.ranges import PfnRange
from kscan.model.render import render_svg, svg_text
from kscan.model.report import ProblemBlock, model_report, problem_blocks

__all__ = [
    "BREAKS",
    "PRESETS",
    "SAFE",
    "UNKNOWN",
    "BootRecipe",
    "Buddy",
    "BuddyError",
    "Geometry",
    "Layout",
    "LayoutError",
    "MaxOrderMeaning",
    "MemRange",
    "Memmap",
    "ModelContext",
    "PageState",
    "PfnRange",
    "ProblemBlock",
    "VerdictChange",
    "default_layout",
    "emit_cmdline",
    "largest_order",
    "load_layout",
    "loads_layout",
    "model_report",
    "newly_breaking",
    "parse_e820",
    "parse_iomem",
    "parse_memmap_cmdline",
    "preset",
    "presets_from_tree",
    "problem_blocks",
    "render_svg",
    "severity_for",
    "svg_text",
    "verdict_for_bytes",
    "verdict_for_order",
    "verdict_for_walk",
]
