"""kscan's model of memory geometry and the buddy allocator, to judge findings by.

    ctx = ModelContext.for_preset("arm64-4k", holes_in_zone_era=True)
    verdict_for_walk(finding.walk, ctx)     # Verdict("breaks", "arm64-4k", "...witness...")

See README.md in this directory for the layout formats and for booting a VM with holes.
"""

import importlib
from typing import Any

# name -> submodule: loaded on first use, so `import kscan.model.context` (every scan)
# does not pay for the renderer, the buddy simulator or the layout parsers.
_EXPORTS = {
    "BREAKS": "crosscheck",
    "BootRecipe": "cmdline",
    "Buddy": "buddy",
    "BuddyError": "buddy",
    "Geometry": "geometry",
    "Layout": "layout",
    "LayoutError": "layout",
    "MaxOrderMeaning": "geometry",
    "MemRange": "layout",
    "Memmap": "memmap",
    "ModelContext": "context",
    "PRESETS": "geometry",
    "PageState": "memmap",
    "PfnRange": "ranges",
    "ProblemBlock": "report",
    "SAFE": "crosscheck",
    "SAFE_CONTRACT": "crosscheck",
    "UNKNOWN": "crosscheck",
    "VerdictChange": "crosscheck",
    "default_layout": "defaults",
    "emit_cmdline": "cmdline",
    "largest_order": "geometry",
    "load_layout": "layout",
    "loads_layout": "layout",
    "model_report": "report",
    "newly_breaking": "crosscheck",
    "parse_e820": "layout",
    "parse_iomem": "layout",
    "parse_memmap_cmdline": "layout",
    "preset": "geometry",
    "presets_from_tree": "archtree",
    "problem_blocks": "report",
    "render_svg": "render",
    "severity_for": "crosscheck",
    "svg_text": "render",
    "verdict_for_bytes": "crosscheck",
    "verdict_for_order": "crosscheck",
    "verdict_for_order_use": "crosscheck",
    "verdict_for_provenance": "origins",
    "verdict_for_walk": "crosscheck",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kscan.model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kscan.model.{module}"), name)
    globals()[name] = value
    return value


__all__ = [  # noqa: F822 (provided by __getattr__)
    "BREAKS",
    "PRESETS",
    "SAFE",
    "SAFE_CONTRACT",
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
    "verdict_for_order_use",
    "verdict_for_provenance",
    "verdict_for_walk",
]
