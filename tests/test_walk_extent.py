"""How far a PFN walk reaches (Walk.extent), read from its bounds."""

from kscan.rules import RULES

from kscan.analysis.project import Project
from kscan.discover.treeinfo import read_tree_info
from kscan.facts.records import FileFacts
from kscan.facts.workers import facts_from_bytes

KS001 = next(rule for rule in RULES if rule.id == "KS001")


def extent(bound: str) -> str:
    """The extent KS001 gives an unchecked walk from start_pfn to `end = bound`."""
    source = (
        "static void add_region(unsigned long start_pfn, unsigned long pages)\n{\n"
        "\tunsigned long pfn, end;\n\n"
        f"\tend = {bound};\n"
        "\tfor (pfn = start_pfn; pfn < end; pfn++)\n"
        "\t\tballoon_append(pfn_to_page(pfn));\n}\n"
    )
    facts = facts_from_bytes(source.encode(), "drivers/x/balloon.c")
    assert isinstance(facts, FileFacts)
    [finding] = KS001.check(Project([facts], read_tree_info(None, "6.12")))
    assert finding.walk is not None
    return finding.walk.extent


def test_a_zone_or_node_end_makes_a_zone_span_walk():
    assert extent("zone_end_pfn(zone)") == "zone-span"
    assert extent("max_pfn") == "zone-span"
    assert extent("min(max_pfn, max_low_pfn)") == "zone-span"  # a span whichever is less


def test_a_span_that_only_caps_the_walk_does_not_make_it_one():
    """xen's balloon_add_regions(): `min(max_pfn, start_pfn + pages)` goes as far as
    the region it was given, max_pfn only limits it."""
    assert extent("min(max_pfn, start_pfn + pages)") == "caller-range"
    assert extent("min_t(unsigned long, zone_end_pfn(zone), start_pfn + pages)") == ("caller-range")
