"""What findings are judged against: a geometry, a layout and the era of hole handling."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kscan.findings import Verdict, Walk
from kscan.model.defaults import default_layout
from kscan.model.geometry import Geometry, preset
from kscan.model.layout import Layout, load_layout
from kscan.model.memmap import Memmap


@dataclass(frozen=True, eq=False)
class ModelContext:
    geometry: Geometry
    layout: Layout
    holes_in_zone_era: bool = False  # judge as before 5.15 (HOLES_IN_ZONE)
    memmap: Memmap = field(init=False, repr=False)
    # Verdicts depend only on the Walk, so the engine pays for each shape once.
    verdicts: dict[Walk, Verdict] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        # Built now, so a layout that does not fit the geometry fails here.
        object.__setattr__(
            self, "memmap", Memmap(self.geometry, self.layout, self.holes_in_zone_era)
        )

    @property
    def preset(self) -> str:
        return self.geometry.name

    @property
    def title(self) -> str:
        era = " before 5.15" if self.holes_in_zone_era else ""
        return f"{self.geometry.title}{era}"

    @classmethod
    def for_preset(
        cls,
        spec: str,
        *,
        holes_in_zone_era: bool = False,
        layout: Layout | None = None,
        presets: dict[str, Geometry] | None = None,
    ) -> ModelContext:
        """A preset ("arm64-4k", "x86_64:sparsemem") with its built-in layout unless one
        is given; `presets` can come from presets_from_tree()."""
        geometry = preset(spec, presets)
        return cls(geometry, layout or default_layout(geometry.arch), holes_in_zone_era)

    @classmethod
    def from_layout_file(
        cls, path: str | Path, geometry: Geometry, *, holes_in_zone_era: bool = False
    ) -> ModelContext:
        return cls(geometry, load_layout(path), holes_in_zone_era)

    def with_geometry(self, geometry: Geometry) -> ModelContext:
        return ModelContext(geometry, self.layout, self.holes_in_zone_era)

    @property
    def order_limit(self) -> int:
        """The largest MAX_ORDER worth a what-if: its first block already holds all of the
        layout's memory, so a larger order changes no block and no verdict."""
        return (self.memmap.span.end - 1).bit_length()
