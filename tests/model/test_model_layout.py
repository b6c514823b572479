"""Layout parsers: each format, good and malformed input, errors naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kscan.model.layout import (
    Layout,
    LayoutError,
    MemRange,
    load_layout,
    loads_layout,
    memparse,
    parse_e820,
    parse_iomem,
    parse_memmap_cmdline,
)

LAYOUTS = Path(__file__).parent.parent / "fixtures" / "layouts"


def spans(ranges) -> list[tuple[int, int]]:
    return [(r.start, r.end) for r in ranges]


def error_of(call, *args) -> LayoutError:
    with pytest.raises(LayoutError) as caught:
        call(*args)
    return caught.value


# --- e820 ------------------------------------------------------------------------------


def test_e820_keeps_usable_ranges_from_a_real_dmesg():
    layout = parse_e820((LAYOUTS / "qemu-x86_64.dmesg").read_text(), "boot.log")
    assert spans(layout.ram) == [
        (0, 0x9FC00),
        (0x100000, 0xBFFDD000),
        (0x100000000, 0x240000000),
    ]
    assert layout.ram[1].line == 7  # where the range was read
    assert spans(layout.holes()) == [(0x9FC00, 0x100000), (0xBFFDD000, 0x100000000)]


def test_e820_prefers_the_user_map_after_memmap():
    layout = parse_e820((LAYOUTS / "qemu-x86_64-memmap.dmesg").read_text())
    assert spans(layout.ram) == [(0, 0x9F000), (0x100000, 0x10000000), (0x10400000, 0x20400000)]


def test_e820_malformed_line_is_named():
    text = "[0.0] BIOS-e820: [mem 0x0-0x9fbff] usable\n[0.0] BIOS-e820: [mem 0x100000 usable\n"
    err = error_of(parse_e820, text, "dmesg.txt")
    assert str(err).startswith("dmesg.txt:2: malformed e820 line")


def test_e820_reversed_range():
    err = error_of(parse_e820, "BIOS-e820: [mem 0x2000-0x1000] usable\n")
    assert err.line == 1 and "ends before it starts" in err.message


def test_e820_overlap_names_the_second_line():
    text = (
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff] usable\n"
        "BIOS-e820: [mem 0x000000000009f000-0x00000000000fffff] reserved\n"
    )
    err = error_of(parse_e820, text, "dmesg")
    assert str(err) == "dmesg:2: e820 range 0x9f000-0xfffff overlaps 0x0-0x9ffff"


def test_e820_without_e820_lines():
    assert "no BIOS-e820 lines" in str(error_of(parse_e820, "Linux version 6.1\n"))


# --- /proc/iomem -----------------------------------------------------------------------


def test_iomem_x86_reserved_children_and_holes():
    layout = parse_iomem((LAYOUTS / "x86_64.iomem").read_text())
    assert spans(layout.ram) == [
        (0x1000, 0x9FC00),
        (0x100000, 0xBFFDD000),
        (0x100000000, 0x240000000),
    ]
    assert layout.nomap == ()
    assert spans(layout.reserved)[0] == (0x0E000000, 0x0F100000)  # Kernel code
    assert len(layout.reserved) == 4


def test_iomem_arm64_lowercase_reserved_is_nomap():
    layout = parse_iomem((LAYOUTS / "arm64.iomem").read_text())
    assert spans(layout.ram) == [
        (0x40000000, 0x40200000),
        (0x40200000, 0x40240000),
        (0x40240000, 0xC0000000),
    ]
    assert spans(layout.nomap) == [(0x40200000, 0x40240000)]
    assert (0xB8000000, 0xC0000000) in spans(layout.reserved)  # the crash kernel


def test_iomem_read_without_root():
    err = error_of(parse_iomem, "00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n")
    assert err.line == 1 and "as root" in err.message


def test_iomem_malformed_and_reversed_lines():
    assert error_of(parse_iomem, "00001000-0009fbff : System RAM\nnot iomem\n").line == 2
    assert "ends before" in error_of(parse_iomem, "2000-1fff : System RAM\n").message


def test_iomem_overlapping_ram():
    text = "00001000-0009ffff : System RAM\n0009f000-000fffff : System RAM\n"
    assert error_of(parse_iomem, text, "iomem").line == 2


# --- memmap= ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("636K", 636 << 10),
        ("0x100000", 1 << 20),
        ("4g", 4 << 30),
        ("010", 8),
        ("0", 0),
        ("1M", 1 << 20),
    ],
)
def test_memparse(text, value):
    assert memparse(text) == value


def test_memmap_exactmap_from_a_file():
    layout = load_layout(LAYOUTS / "x86_64-holes.cmdline")
    assert spans(layout.ram) == [(0, 0x9F000), (0x100000, 0x10500000), (0x10540000, 0x20500000)]


def test_memmap_carves_reserved_out_of_the_firmware_map():
    base = Layout((MemRange(0, 0x9F000), MemRange(0x100000, 0x80000000)))
    layout = parse_memmap_cmdline(r"quiet memmap=64K\$0x10500000 memmap=1M#0x20000000", base=base)
    assert spans(layout.ram) == [
        (0, 0x9F000),
        (0x100000, 0x10500000),
        (0x10510000, 0x20000000),
        (0x20100000, 0x80000000),
    ]


def test_memmap_ram_over_a_reserved_range_stays_reserved():
    layout = parse_memmap_cmdline("memmap=exactmap memmap=2M$1M memmap=4M@0")
    assert spans(layout.ram) == [(0, 1 << 20), (3 << 20, 4 << 20)]


def test_memmap_exactmap_drops_what_came_before():
    layout = parse_memmap_cmdline("memmap=1G@4G memmap=exactmap,4M@0")
    assert spans(layout.ram) == [(0, 4 << 20)]


def test_memmap_without_address_caps_ram_only():
    layout = parse_memmap_cmdline("memmap=exactmap memmap=1M@0,8M@2M,6M$5M memmap=4M")
    assert spans(layout.ram) == [(0, 1 << 20), (2 << 20, 4 << 20)]
    # The reservation above the cap stays, so RAM added back later is still cut by it.
    layout = parse_memmap_cmdline("memmap=exactmap memmap=1M$5M memmap=4M memmap=4M@4M")
    assert spans(layout.ram) == [(4 << 20, 5 << 20), (6 << 20, 8 << 20)]


@pytest.mark.parametrize(
    ("cmdline", "message"),
    [
        ("memmap=exactmap memmap=4Q@0", "not a size"),
        ("memmap=exactmap memmap=4M@zz", "not a size"),
        ("memmap=exactmap memmap=0@1M", "zero size"),
        ("memmap=exactmap memmap=4M%1M-2+1", "not supported"),
        ("memmap=exactmap memmap=@1M", "expected nn"),
        ("memmap=exactmap memmap=4M@0 memmap=1M@1M", "memmap=1M@1M overlaps memmap=4M@0"),
    ],
)
def test_memmap_errors_name_the_argument(cmdline, message):
    err = error_of(parse_memmap_cmdline, f"console=ttyS0\n{cmdline}\n", "grub.cfg")
    assert err.line == 2 and message in err.message
    assert str(err).startswith("grub.cfg:2: ")


def test_memmap_needs_an_argument():
    assert "no memmap=" in str(error_of(parse_memmap_cmdline, "console=ttyS0"))


# --- TOML and JSON ---------------------------------------------------------------------


def test_toml_and_json_describe_the_same_layout():
    toml = load_layout(LAYOUTS / "arm64-server.toml")
    json = load_layout(LAYOUTS / "arm64-server.json")
    assert toml == json
    assert toml.name == "arm64 two-node server"
    assert spans(toml.nomap) == [(0x80200000, 0x80240000)]
    assert spans(toml.offline) == [(0x960000000, 0x980000000)]
    assert len(toml.node_ranges()) == 2
    assert toml.nodes[1].line == 10  # multi-line arrays keep their lines


TOML_ERRORS = [
    ('ram = ["0x1000-0x1fff"]\nname = \n', 2, "Invalid value"),  # from tomllib
    ('ram = ["0x1000-0x1fff"]\nrams = []\n', 2, "unknown key 'rams'"),
    ('ram = ["0x1000-0x1fff"]\nnomap = ["0x1000-0xq"]\n', 2, "not a range"),
    ('ram = ["0x2000-0x1fff"]\n', 1, "ends before it starts"),
    ('ram = [\n  "0x0-0xfff",\n  "0x800-0x1fff",\n]\n', 3, "overlaps"),
    ('ram = ["0x0-0xfff"]\nnomap = ["0x800-0x1fff"]\n', 2, "not inside System RAM"),
    ('ram = ["0x0-0xfff"]\nreserved = ["0x0-0xff"]\noffline = ["0x80-0x1ff"]\n', 3, "overlaps"),
    ('ram = ["0x0-0xfff"]\nnodes = ["0x0-0x7ff"]\n', 1, "outside every node"),
    ('ram = "0x0-0xfff"\n', 1, "expected a list"),
    ("ram = []\n", None, "no System RAM"),
]


@pytest.mark.parametrize(("text", "line", "message"), TOML_ERRORS)
def test_toml_errors_name_the_line(text, line, message):
    err = error_of(loads_layout, text, "layout.toml", "toml")
    assert (err.line, err.source) == (line, "layout.toml")
    assert message in err.message


def test_json_errors_name_the_line():
    err = error_of(loads_layout, '{\n  "ram": ["0x0-0xfff",]\n}', "l.json", "json")
    assert err.line == 2
    err = error_of(
        loads_layout, '{\n  "ram": ["0x0-0xfff"],\n  "nomap": [4096]\n}', "l.json", "json"
    )
    assert err.line == 3 and "not a range" in err.message
    assert "expected a table" in error_of(loads_layout, "[]", "l.json", "json").message


def test_load_layout_sniffs_the_format(tmp_path):
    for name, ram_ranges in (
        ("qemu-x86_64.dmesg", 3),
        ("x86_64.iomem", 3),
        ("x86_64-holes.cmdline", 3),
    ):
        assert len(load_layout(LAYOUTS / name).ram) == ram_ranges
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    assert "not a layout" in str(error_of(load_layout, junk))
    assert error_of(load_layout, tmp_path / "missing.toml").source.endswith("missing.toml")
