"""Every fixture tree's findings must equal its `/* expect: KSnnn */` annotations.

An annotation on a line says "this rule reports this line"; a line without one must
not be reported.  This covers positives and negatives of every rule at once, in
every era's fixture tree.
"""

import re
from collections import Counter
from pathlib import Path

import pytest

from kscan.engine import Options, scan
from kscan.findings import Level

FIXTURES = Path(__file__).parent / "fixtures"
TREES = sorted(p.parent for p in FIXTURES.glob("*/Makefile"))


def expected(tree: Path, ids: str = r"KS\d{3}") -> Counter:
    """(path, line, id) for each `/* expect: ID... */` annotation below tree."""
    annotation = re.compile(rf"expect:\s*((?:{ids}[\s,]*)+)")
    found = Counter()
    for path in sorted(tree.rglob("*.[ch]")):
        rel = path.relative_to(tree).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = annotation.search(line)
            if match:
                for rule in re.findall(ids, match.group(1)):
                    found[(rel, number, rule)] += 1
    return found


def reported_findings(tree: Path):
    return scan(Options(paths=[str(tree)], jobs=1)).result.findings


def reported(tree: Path) -> Counter:
    return Counter((f.location.path, f.location.line, f.rule_id) for f in reported_findings(tree))


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_findings_match_annotations(tree):
    want, got = expected(tree), reported(tree)
    assert want, f"{tree.name} has no annotated findings"
    assert got - want == Counter(), "reported but not expected"
    assert want - got == Counter(), "expected but not reported"


def test_block_walk_severity_follows_the_era():
    """The same block walk is a bug before 5.15 and safe by design after."""
    old = scan(Options(paths=[str(FIXTURES / "tree-5.10")], jobs=1)).result.findings
    new = scan(Options(paths=[str(FIXTURES / "demo")], jobs=1)).result.findings
    assert {f.severity for f in old if f.rule_id == "KS002"} == {Level.HIGH}
    assert {f.severity for f in new if f.rule_id == "KS002"} == {Level.LOW}
    assert all("safe by design" in f.message for f in new if f.rule_id == "KS002")


def test_zone_span_walk_outranks_caller_range():
    findings = scan(Options(paths=[str(FIXTURES / "demo" / "mm")], jobs=1)).result.findings
    by_function = {f.location.function: f for f in findings if f.rule_id == "KS001"}
    assert by_function["count_reserved"].severity == Level.HIGH
    assert by_function["mark_range"].severity == Level.MEDIUM


def test_max_order_findings_get_concrete_sizes_from_the_model():
    """An order past the largest, judged in pages and bytes on a modelled geometry."""
    result = scan(Options(paths=[str(FIXTURES / "tree-6.1")], jobs=1, model_preset="x86_64"))
    asks = [f for f in result.result.findings if f.order and f.order.use == "asks"]
    assert asks and all(f.verdict.kind == "breaks" for f in asks)
    assert all("asks for order 11 (8 MiB); the largest buddy block here is order 10 (4 MiB)"
               in f.verdict.reason for f in asks)
    held = {f.location.line: f.verdict for f in result.result.findings if f.order.use == "holds"}
    # `reporting_order = MAX_ORDER` is no request: an "unset" marker is right in 6.1
    assert held[5].kind == "unknown" and held[5].reason.startswith(
        "holds order 11 (8 MiB), past order 10 (4 MiB), the largest buddy block on x86_64"
    )
    assert 29 not in held  # aux_page() hands the order it sets to alloc_pages()
    newer = scan(Options(paths=[str(FIXTURES / "tree-6.12")], jobs=1, model_preset="x86_64"))
    by_rule = {}
    for f in newer.result.findings:
        by_rule.setdefault(f.rule_id, set()).add((f.verdict.kind, f.verdict.reason))
    assert by_rule["KS006"] == {("breaks", "never reaches order 10 (4 MiB), the largest "
                                 "buddy block on x86_64: orders 0..9 only")}
    assert by_rule["KS007"] == {("safe-by-design", "aligns or sizes a contiguous range to "
                                 "order 10 (4 MiB) on x86_64, where a pageblock, order 9 "
                                 "(2 MiB), is all alloc_contig_range() needs since 5.19: "
                                 "valid, 2x coarser than needed")}
    rejects = {r for k, r in by_rule["KS004"] if "turns away" in r}
    assert rejects == {"turns away order 10 (4 MiB), the largest buddy block on x86_64: "
                       "a request for it fails"}


def test_every_finding_of_every_rule_has_a_verdict():
    for tree in TREES:
        findings = scan(Options(paths=[str(tree)], jobs=1)).result.findings
        assert findings and all(f.verdict is not None for f in findings), tree.name


def test_max_order_past_the_section_breaks_only_walks_checked_per_max_order_block():
    """`kscan model --max-order 18`: a pageblock stays at pageblock_order, so walks bounded
    by one, or validated per pageblock by their caller, stay safe; a walk validated only
    at MAX_ORDER-aligned PFNs now crosses sections it never checked, and so does a
    struct page walk over a whole MAX_ORDER block (clear_max_block: page + i)."""
    from kscan.model import ModelContext, newly_breaking

    findings = [f for f in reported_findings(FIXTURES / "demo") if f.walk is not None]
    model = ModelContext.for_preset("x86_64")
    what_if = model.geometry.with_max_page_order(18)
    changes = newly_breaking([f.walk for f in findings], model, what_if)
    breaking = {findings[c.index].location.function for c in changes}
    assert breaking == {"find_allocated", "clear_max_block"}
    functions = {f.location.function for f in findings}
    assert {"init_pages", "move_block", "scan_blocks", "test_range"} <= functions
