"""The hotspot picture: valid SVG, one row per chain, the hotspot highlighted."""

import xml.etree.ElementTree as ET

from kscan.report.chains_svg import chains_svg
from kscan.results import HotspotRow

SVG = ""  # inline HTML SVG carries no namespace


def test_one_row_per_chain_with_the_hotspot_highlighted():
    rows = [
        HotspotRow("walk", "mm/a.c", 10, 7.13, ("__free_one_page", "reset", "walk")),
        HotspotRow("reset", "mm/a.c", 20, 3.5, ("__free_one_page", "reset", "walk")),
    ]
    root = ET.fromstring(chains_svg(rows))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == [
        "__free_one_page", "reset", "walk", "score 7.13",
        "__free_one_page", "reset", "walk", "score 3.5",
    ]
    boxes = list(root.iter(f"{SVG}rect"))
    hot = [i for i, box in enumerate(boxes) if box.get("stroke") == "#b00"]
    assert hot == [2, 4]  # walk in the first row, reset in the second
    assert len(list(root.iter(f"{SVG}polygon"))) == 4  # two arrows a row


def test_names_are_escaped_and_nothing_to_draw_is_empty():
    root = ET.fromstring(chains_svg([HotspotRow("a<b", "x.c", 1, 1.0, ("a<b",))]))
    assert [t.text for t in root.iter(f"{SVG}text")] == ["a<b", "score 1"]
    assert chains_svg([]) == ""
