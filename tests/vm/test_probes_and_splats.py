"""Probes read against the model (on a real boot's output, and on outputs that must
disagree); splats found and put on the probe that caused them; the console split."""

from __future__ import annotations

import base64
import gzip
import struct

from vm_helpers import FIXTURES, captured

from kscan.vm.console import split_console
from kscan.vm.probes import PROBES
from kscan.vm.session import evaluate
from kscan.vm.splats import find_splats


def probe_output(tmp_path, name):
    chosen, boot = captured("builtin-6.1", tmp_path)
    return chosen.ctx, split_console(boot.console).parts[f"probe:{name}"].text


def test_probes_on_the_builtin_boot(tmp_path):
    result = evaluate(*captured("builtin-6.1", tmp_path))
    outcomes = {p.name: (p.agrees, p.outcome) for p in result.probes}
    assert outcomes["kpageflags"] == (
        True, "read 524288 PFNs: 33792 without a page, 463205 free (KPF_BUDDY)"
    )  # fmt: skip
    assert outcomes["page_owner"] == (
        None, "not run: no /sys/kernel/debug/page_owner (kernel without CONFIG_PAGE_OWNER)"
    )  # fmt: skip
    assert outcomes["hugetlb"] == (True, "no page of 1 GiB; model: no aligned range inside a zone")
    offline = next(p for p in result.probes if p.name == "offline")
    assert {c.subject.split()[0]: c.model for c in offline.checks} == {
        "memory0": "refused: memory holes (98 pages)",
        "memory1": "may go offline",
        "memory2": "refused: memory holes (64 pages)",
        "memory3": "may go offline",
        "memory4": "refused: memory holes (64 pages)",
        "memory6": "refused: memory holes (64 pages)",
        "memory7": "may go offline",
        "memory9": "may go offline",
        "memory15": "refused: memory holes (1024 pages)",
    }
    assert all(c.agrees for p in result.probes for c in p.checks)


def test_kpageflags_names_a_ram_page_without_memmap(tmp_path):
    ctx, text = probe_output(tmp_path, "kpageflags")
    raw = bytearray(gzip.decompress(base64.b64decode("".join(text.split()))))
    struct.pack_into("<Q", raw, 8 * 0x50000, 1 << 20)  # KPF_NOPAGE on a RAM pfn
    forged = base64.b64encode(gzip.compress(bytes(raw))).decode()
    result = PROBES["kpageflags"].judge(ctx, forged)
    wrong = [c for c in result.checks if not c.agrees]
    assert [(c.subject, c.note) for c in wrong] == [
        ("RAM: a page", "1 PFNs differ, the first at 0x50000 (flags 0x100000)")
    ]
    assert "could not read" in PROBES["kpageflags"].judge(ctx, "not base64!").outcome


def test_gigantic_page_where_the_model_has_none_disagrees(tmp_path):
    ctx, _ = probe_output(tmp_path, "hugetlb")
    result = PROBES["hugetlb"].judge(ctx, "allocated 1\nafter freeing 0\n")
    assert result.agrees is False
    assert result.checks[0].note == "the kernel found a range the model says holds a hole"


def test_offlining_a_block_with_a_hole_disagrees(tmp_path):
    ctx, text = probe_output(tmp_path, "offline")
    forged = text.replace("memory2 offline failed: Invalid argument", "memory2 offline ok")
    forged = forged.replace("memory2 state online", "memory2 state offline\nmemory2 online ok")
    wrong = [c for c in PROBES["offline"].judge(ctx, forged).checks if not c.agrees]
    assert [(c.subject, c.kernel) for c in wrong] == [
        ("memory2 [0x10000, 0x18000)", "offlined, onlined again")
    ]


def test_more_free_max_order_blocks_than_whole_blocks_disagrees(tmp_path):
    ctx, text = probe_output(tmp_path, "compaction")
    before, after = text.split("== after")
    dma32 = next(line for line in after.splitlines() if "DMA32" in line)
    forged = before + "== after" + after.replace(dma32, dma32.rsplit(None, 1)[0] + " 500")
    wrong = [c for c in PROBES["compaction"].judge(ctx, forged).checks if not c.agrees]
    assert [(c.subject, c.note) for c in wrong] == [
        ("node 0 DMA32: order 10 free after", "28 more than whole blocks")
    ]


def test_a_short_buddyinfo_line_before_compaction_is_passed_over(tmp_path):
    ctx, text = probe_output(tmp_path, "compaction")
    before, after = text.split("== after")
    dma32 = next(line for line in before.splitlines() if "DMA32" in line)
    forged = before.replace(dma32, dma32.rsplit(None, 3)[0]) + "== after" + after
    subjects = [c.subject for c in PROBES["compaction"].judge(ctx, forged).checks]
    assert not any("DMA32" in s for s in subjects)


WARN = """[    9.100000] ------------[ cut here ]------------
[    9.100001] WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:5525 __alloc_pages+0x2a5/0x340
[    9.100002] Modules linked in:
[    9.100003] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0-57-cloud-amd64 #1  Debian 6.1.192-3
[    9.100004] RIP: 0010:__alloc_pages+0x2a5/0x340
[    9.100005] ---[ end trace 0000000000000000 ]---
"""


def test_a_warn_inside_a_probe_belongs_to_it(tmp_path):
    chosen, boot = captured("builtin-6.1", tmp_path)
    marker = "kscan-vm: probe hugetlb start\n"
    at = boot.console.index(marker, boot.console.index("@@kscan-vm:begin:dmesg@@"))
    boot.console = boot.console[: at + len(marker)] + WARN + boot.console[at + len(marker) :]
    result = evaluate(chosen, boot)
    hugetlb = next(p for p in result.probes if p.name == "hugetlb")
    assert [s.title for s in hugetlb.splats] == [
        "WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:5525 __alloc_pages+0x2a5/0x340"
    ]
    assert hugetlb.splats[0].text.endswith("---[ end trace 0000000000000000 ]---")
    assert hugetlb.agrees is False and result.exit_code == 1 and result.splats == []


def test_a_boot_oops_is_a_splat_of_the_boot():
    log = "[    0.5] BUG: unable to handle page fault for address: ffffea0001000000\n"
    log += "[    0.5] #PF: supervisor read access in kernel mode\n"
    (splat,) = find_splats(log)
    assert splat.phase == "boot" and splat.title.startswith("BUG: unable to handle page fault")


def test_console_parts_and_kernel_lines():
    console = (
        "[    1.0] Linux version 6.1\n@@kscan-vm:begin:iomem@@\n00001000-0009efff : System RAM\n"
        "[    2.0] a kernel line printed meanwhile\n@@kscan-vm:end:iomem:0@@\n"
        "@@kscan-vm:begin:probe:offline@@\nmemory2 offline ok@@kscan-vm:end:probe:offline:1@@\n"
        "@@kscan-vm:begin:zoneinfo@@\nNode 0, zone DMA\n"
    )
    capture = split_console(console)
    assert capture.parts["iomem"].text == "00001000-0009efff : System RAM\n"
    assert capture.parts["probe:offline"].status == 1
    assert capture.parts["probe:offline"].text == "memory2 offline ok\n"
    assert capture.parts["zoneinfo"].status is None and capture.text("zoneinfo") is None
    assert not capture.finished
    assert capture.log == "[    1.0] Linux version 6.1\n[    2.0] a kernel line printed meanwhile\n"


def test_the_fixture_logs_have_no_splat():
    for console in FIXTURES.glob("*.console"):
        assert find_splats(split_console(console.read_text()).log) == []
