"""`kscan vm`, start to end: the model for the layout, the initramfs, one boot, the
comparison and the probes' verdicts."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kscan.discover.treeinfo import read_tree_info
from kscan.facts.cache import cache_dir
from kscan.model.cmdline import BootRecipe, emit_cmdline, recipe_for_layout
from kscan.model.context import ModelContext
from kscan.model.geometry import preset
from kscan.model.layout import Layout, LayoutError, load_layout
from kscan.vm.busybox import find_busybox
from kscan.vm.compare import Check, compare
from kscan.vm.console import split_console
from kscan.vm.errors import VmSetupError
from kscan.vm.expect import IMAGE_NOT_RAM, MapEdit, as_x86_keeps, with_kernel_image
from kscan.vm.guest import SENTINEL, init_script
from kscan.vm.initramfs import build_initramfs
from kscan.vm.kernel import KernelImage, read_kernel_image
from kscan.vm.kernel_view import KernelView, read_view
from kscan.vm.probes import PROBES, Probe, ProbeResult
from kscan.vm.qemu import QEMU, Boot, VmConfig, boot, find_qemu
from kscan.vm.splats import Splat, find_splats

# The console is the serial port; a panic reboots at once, and QEMU (-no-reboot) exits.
# nokaslr: a randomly placed kernel image can land in one of the layout's holes, and
# the kernel then adds it to its RAM (e820_add_kernel_range()): a different map each
# boot.  Without KASLR it sits at CONFIG_PHYSICAL_START (16 MiB).
BASE_CMDLINE = "console=ttyS0 printk.time=1 panic=-1 nokaslr"
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class VmRequest:
    kernel: Path
    layout: Path | None = None  # None: kscan model --emit-cmdline's layout
    append: str = ""
    probes: tuple[str, ...] = ()
    accel: str = "auto"
    timeout: float = DEFAULT_TIMEOUT
    busybox: Path | None = None
    qemu: str = QEMU


@dataclass
class VmResult:
    kernel: KernelImage
    layout: Layout
    edits: list[MapEdit]  # what the kernel changed in the layout's RAM
    cmdline: str
    memory: str
    boot: Boot
    finished: bool  # /init got to its end
    checks: list[Check]
    probes: list[ProbeResult]
    splats: list[Splat]  # outside every probe
    seconds: float = 0.0  # the whole command
    notes: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return (
            self.finished
            and not self.splats
            and all(c.agrees for c in self.checks)
            and all(p.agrees is not False for p in self.probes)
        )

    @property
    def exit_code(self) -> int:
        return 0 if self.agrees else 1


@dataclass(frozen=True)
class Plan:
    """Everything decided before the boot."""

    kernel: KernelImage
    recipe: BootRecipe
    ctx: ModelContext  # the model on the layout as the kernel keeps it
    edits: list[MapEdit]
    probes: list[Probe]
    cmdline: str


def plan(request: VmRequest) -> Plan:
    kernel = read_kernel_image(request.kernel)
    unknown = [name for name in request.probes if name not in PROBES]
    if unknown:
        raise VmSetupError(f"unknown probe {unknown[0]!r} (choose from {', '.join(PROBES)})")
    probes = [probe for name, probe in PROBES.items() if name in request.probes]
    recipe = _recipe(request.layout)
    kept, edits = as_x86_keeps(recipe.layout)
    era = bool(read_tree_info(None, kernel_version=kernel.version).holes_in_zone_era)
    try:
        ctx = ModelContext(preset("x86_64"), kept, era)
    except LayoutError as err:
        raise VmSetupError(str(err)) from None
    arguments = (BASE_CMDLINE, recipe.cmdline, *(p.cmdline for p in probes), request.append)
    return Plan(kernel, recipe, ctx, edits, probes, " ".join(a for a in arguments if a))


def run_vm(request: VmRequest, progress: Callable[[str], None] = lambda _: None) -> VmResult:
    started = time.monotonic()
    chosen = plan(request)
    qemu = find_qemu(request.qemu)
    busybox = find_busybox(cache_dir() / "vm", request.busybox)
    with tempfile.TemporaryDirectory(prefix="kscan-vm-") as scratch:
        progress("building the initramfs")
        initrd = Path(scratch) / "initramfs.cpio"
        script = init_script((p.name, p.guest(chosen.ctx)) for p in chosen.probes)
        initrd.write_bytes(build_initramfs(busybox, script))
        memory = chosen.recipe.qemu_memory
        config = VmConfig(chosen.kernel.path, initrd, chosen.cmdline, memory, request.timeout, qemu)
        progress(f"booting {chosen.kernel.release}")
        booted = boot(config, request.accel, _ConsoleProgress(progress))
    progress("comparing")
    result = evaluate(chosen, booted)
    result.seconds = time.monotonic() - started
    return result


def evaluate(chosen: Plan, booted: Boot) -> VmResult:
    """Hold the model against what the boot printed."""
    capture = split_console(booted.console)
    view = read_view(capture)
    ctx, edits = _with_kernel_edits(chosen.ctx, chosen.edits, view)
    checks = compare(ctx, chosen.recipe.layout, view)
    splats = find_splats(capture.log)
    results = []
    for probe in chosen.probes:
        part = capture.parts.get(f"probe:{probe.name}")
        result = probe.judge(ctx, part.text if part else None)
        result.splats = [s for s in splats if s.phase == f"probe {probe.name}"]
        results.append(result)
    notes = list(booted.notes)
    if not capture.finished:
        notes.append(f"the guest did not finish: {booted.ending}")
    return VmResult(
        chosen.kernel,
        chosen.recipe.layout,
        edits,
        chosen.cmdline,
        chosen.recipe.qemu_memory,
        booted,
        capture.finished,
        checks,
        results,
        [s for s in splats if not s.phase.startswith("probe ")],
        notes=notes,
    )


def _with_kernel_edits(
    ctx: ModelContext, edits: list[MapEdit], view: KernelView
) -> tuple[ModelContext, list[MapEdit]]:
    """The model with the RAM the kernel added for its image, when it says it did."""
    if IMAGE_NOT_RAM not in view.log or view.iomem is None or view.kernel_code is None:
        return ctx, edits
    holding = next((r for r in view.iomem.ram if r.start <= view.kernel_code < r.end), None)
    if holding is None:
        return ctx, edits
    layout, added = with_kernel_image(ctx.layout, holding)
    return ModelContext(ctx.geometry, layout, ctx.holes_in_zone_era), edits + added


def _recipe(layout: Path | None) -> BootRecipe:
    try:
        if layout is None:
            return emit_cmdline(preset("x86_64"))
        return recipe_for_layout(load_layout(layout))
    except (LayoutError, ValueError) as err:
        raise VmSetupError(str(err)) from None


class _ConsoleProgress:
    """Turns the console stream into progress: the kernel's banner, then each part."""

    _BEGIN = re.compile(rf"{SENTINEL}:begin:(probe:)?(.+?)@@")

    def __init__(self, progress: Callable[[str], None]) -> None:
        self.progress, self.tail = progress, b""

    def __call__(self, chunk: bytes) -> None:
        lines = (self.tail + chunk).split(b"\n")
        self.tail = lines.pop()
        for line in lines:
            text = line.decode(errors="replace")
            begin = self._BEGIN.search(text)
            if begin:
                self.progress(f"{'probe' if begin[1] else 'collecting'} {begin[2]}")
            elif "Run /init as init process" in text:
                self.progress("kernel up, collecting")
