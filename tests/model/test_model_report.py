"""`kscan model` output: the geometry table, problem blocks and the SVG picture."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

from model_toy import TOY, toy_layout

from kscan.model import ModelContext, model_report, problem_blocks, render_svg, svg_text

SVG = "{http://www.w3.org/2000/svg}"


def test_geometry_table_rows():
    rows, blocks = model_report(ModelContext.for_preset("x86_64"))
    table = {name: (value, note) for name, value, note in rows}
    assert table["largest buddy order"] == (
        "10 (4 MiB)",
        "MAX_PAGE_ORDER 10 (6.8+); MAX_ORDER 10 (6.4-6.7); MAX_ORDER 11 (before 6.4)",
    )
    assert table["pageblock"][0] == "order 9 (2 MiB)"
    assert table["section"] == ("128 MiB", "SECTION_SIZE_BITS 27, 0x8000 pages")
    assert table["subsection"][0] == "2 MiB"
    assert table["memory model"][0] == "SPARSEMEM_VMEMMAP"
    assert table["MAX_ORDER block vs section"][0] == "fits in a section"
    assert table["absent sections"] == ("2304 MiB", "[0x70000, 0x100000)")
    # in PFNs like every other range (the layout's gap above 0x6cbff000 is partly the
    # absent sections)
    assert table["holes"] == ("52.4 MiB", "[0x9f, 0x100), [0x6cbff, 0x70000)")
    assert table["node 0 DMA32"][0] == "[0x1000, 0x100000)"
    assert table["free after boot"][1] == "largest free order 10"
    assert [str(b.pfns) for b in blocks] == ["[0x0, 0x400)", "[0x6c800, 0x6cc00)"]


def test_kconfig_range_row_when_the_tree_gives_one():
    table = ModelContext.for_preset("ppc64")
    assert "Kconfig range" not in {name for name, _, _ in model_report(table)[0]}
    from_tree = replace(table.geometry, max_order_range=(7, 8))
    rows, _ = model_report(table.with_geometry(from_tree))
    assert ("Kconfig range", "7..8", "ARCH_FORCE_MAX_ORDER, as largest orders") in rows
    names = {name for name, _, _ in model_report(ModelContext.for_preset("arm64-4k"))[0]}
    assert {"NOMAP", "offline", "node 1 Normal"} <= names


def test_problem_blocks_of_a_what_if():
    model = ModelContext.for_preset("x86_64")
    what_if = model.with_geometry(model.geometry.with_max_page_order(18))
    blocks = problem_blocks(what_if)
    assert len(blocks) == 16  # every GiB with RAM spans 8 sections
    assert blocks[1].reasons == (
        "hole [0x6cbff, 0x70000)",
        "absent section [0x70000, 0x80000)",
        "spans 8 sections",
    )
    rows, _ = model_report(what_if)
    assert ("MAX_ORDER block vs section", "exceeds a section") in [r[:2] for r in rows]


def test_problem_blocks_crossing_a_node_and_holding_offline_memory():
    layout = toy_layout(ram=[(0, 48)], offline=[(32, 48)], nodes=[(0, 6), (6, 48)])
    blocks = problem_blocks(ModelContext(TOY, layout))
    assert [(str(b.pfns), b.reasons) for b in blocks] == [
        ("[0x4, 0x8)", ("crosses into node 1 at 0x6",)),
    ]  # the offline block is whole blocks: nothing online shares one with it


def test_svg_is_well_formed_and_shows_the_problem_blocks(tmp_path):
    model = ModelContext.for_preset("arm64-4k")
    path = tmp_path / "map.svg"
    render_svg(model, path)
    root = ET.parse(path).getroot()
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert (
        texts[0] == "arm64 4K: arm64 server: firmware NOMAP carve-out, two nodes, one offline block"
    )
    assert "[0x80000, 0x80400): NOMAP [0x80200, 0x80240)" in texts
    assert "... 30 GiB without RAM ..." in texts
    outlines = [r for r in root.iter(f"{SVG}rect") if r.get("stroke") == "#d62728"]
    assert len(outlines) == 2  # in the overview and around the zoomed block
    assert any(r.get("fill") == "#9b72c2" for r in root.iter(f"{SVG}rect"))  # offline


def test_svg_without_problem_blocks_and_with_markup_in_names():
    layout = toy_layout(ram=[(0, 64)])
    layout = type(layout)(layout.ram, name="<clean> & tidy")
    text = svg_text(ModelContext(TOY, layout))
    root = ET.fromstring(text)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[0] == "toy: <clean> & tidy"
    assert "no MAX_ORDER block holds a hole or crosses a section or node" in texts
