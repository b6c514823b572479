"""`kscan what-if`: each class against its fixtures, the eras, the section boundary, the
guards' arithmetic, the order flow and the reports.

The fixture trees under tests/fixtures/whatif/ mark every line a class must list at
--max-order 18 on x86_64 with `/* expect: WIn */`; a line without one must not be
listed.  Negatives of every class sit beside the positives, pageblock walks included.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from test_fixtures import expected as annotated

from kscan.whatif.run import what_if

WHATIF = Path(__file__).parent / "fixtures" / "whatif"
TREES = sorted(p.parent for p in WHATIF.glob("*/Makefile"))
SECTION_CLASSES = {"WI1", "WI2", "WI3", "WI4"}


def expected(tree: Path) -> Counter:
    return annotated(tree, r"WI\d")


def listed(tree: Path, order: int = 18, arch: str = "x86_64"):
    return what_if([str(tree)], order, arch, jobs=1)


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_each_class_lists_exactly_the_annotated_lines(tree):
    result = listed(tree)
    got = Counter((s.location.path, s.location.line, s.rule_id) for s in result.sites)
    want = expected(tree)
    assert want, f"{tree.name} has no annotated sites"
    assert got - want == Counter(), "listed but not expected"
    assert want - got == Counter(), "expected but not listed"
    assert not result.warnings


def test_every_class_has_a_positive_fixture():
    classes = {key[2] for tree in TREES for key in expected(tree)}
    assert classes == {f"WI{i}" for i in range(1, 8)}


@pytest.mark.parametrize("order", [10, 12, 15])
def test_at_or_below_the_section_the_section_classes_list_nothing(order):
    result = listed(WHATIF / "tree-6.12", order)
    assert not result.question["exceeds_section"]
    assert not {s.rule_id for s in result.sites} & SECTION_CLASSES


def test_one_order_past_the_section_lists_the_section_classes():
    result = listed(WHATIF / "tree-6.12", 16)
    assert {s.rule_id for s in result.sites} >= SECTION_CLASSES


def test_the_largest_order_is_stated_in_the_trees_own_spelling():
    new, old = listed(WHATIF / "tree-6.12"), listed(WHATIF / "tree-6.1")
    assert (new.question["macro"], new.question["macro_value"]) == ("MAX_PAGE_ORDER", 18)
    assert (old.question["macro"], old.question["macro_value"]) == ("MAX_ORDER", 19)
    assert "largest buddy order N = 18" in old.headline and "exclusive" in old.headline


def test_guards_say_at_which_orders_they_fire():
    guards = {g.text: g for g in listed(WHATIF / "tree-6.12").guards}
    error = next(g for text, g in guards.items() if text.startswith("#if (MAX_PAGE_ORDER"))
    assert (error.fires, error.fires_at) == (True, "N >= 16")  # 4 KiB pages, 128 MiB sections
    width = guards["BUILD_BUG_ON(MAX_PAGE_ORDER >= S8_MAX)"]
    assert (width.fires, width.fires_at) == (False, "no N below 64")
    fixed = next(g for text, g in guards.items() if text.startswith("#define MAX_PAGE_ORDER 10"))
    assert fixed.fires and fixed.fires_at == "N != 10"


def test_the_section_guard_fires_later_with_64k_pages():
    """arm64 64K: 512 MiB sections hold order 13 blocks; the #error fires from 14."""
    guards = listed(WHATIF / "tree-6.12", 14, "arm64-64k").guards
    error = next(g for g in guards if g.text.startswith("#if (MAX_PAGE_ORDER"))
    assert (error.fires, error.fires_at) == (True, "N >= 14")


def test_an_order_reaches_a_walk_through_its_callers():
    sites = listed(WHATIF / "tree-6.12").sites
    walk = next(s for s in sites if s.location.function == "prepare_block")
    assert "order is passed `current_order` by take_block()" in walk.message


def test_sites_are_ranked_by_class_then_call_graph_score():
    sites = listed(WHATIF / "tree-6.12").sites
    assert [s.rule_id for s in sites] == sorted(s.rule_id for s in sites)
    scores = [float(dict(s.properties)["score"]) for s in sites if s.rule_id == "WI1"]
    assert scores == sorted(scores, reverse=True)


# --- the command --------------------------------------------------------------------------

TREE = WHATIF / "tree-6.12"
SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


def command(*args: str):
    from typer.testing import CliRunner

    from kscan.cli import app

    return CliRunner().invoke(app, ["what-if", *args], catch_exceptions=False)


@pytest.fixture
def in_tree(monkeypatch):
    monkeypatch.chdir(TREE)


def test_text_is_a_checklist_grouped_by_class_and_subsystem(in_tree):
    result = command("--max-order", "18", "-q")
    assert result.exit_code == 1  # sites listed
    out = result.stdout
    assert out.startswith("kscan what-if: x86_64, max order 18: largest buddy order N = 18")
    assert "WI1 buddy-arithmetic: 2 sites." in out
    assert "  mm (2)" in out
    assert "    [ ] mm/buddy.c:16:" in out and "merge_block()" in out
    assert "  FIRES   include/linux/mmzone.h:33:" in out
    assert "  holds   mm/buddy.c:" in out


def test_default_paths_are_the_whole_tree(in_tree):
    whole = json.loads(command("--max-order", "18", "-f", "json", "-q").stdout)
    some = json.loads(command("mm", "--max-order", "18", "-f", "json", "-q").stdout)
    assert whole["stats"]["files"] > some["stats"]["files"]
    assert {s["path"].split("/")[0] for s in whole["sites"]} == {"include", "mm", "drivers"}


def test_json_counts_classes_and_lists_guards(in_tree):
    report = json.loads(command("--max-order", "18", "-f", "json", "-q").stdout)
    assert report["schema"] == "kscan-what-if/1"
    assert report["question"]["largest_order"] == 18
    assert report["question"]["macro"] == "MAX_PAGE_ORDER"
    assert sum(report["counts"].values()) == len(report["sites"]) == expected(TREE).total()
    site = report["sites"][0]
    assert {"class", "subsystem", "path", "line", "reason", "when", "fix", "score"} <= set(site)
    assert any(g["fires"] for g in report["guards"])


def test_markdown_is_a_task_list(in_tree):
    out = command("--max-order", "18", "-f", "markdown", "-q").stdout
    assert out.startswith("## kscan what-if: largest order 18")
    assert "### WI2 page-walk-across-block" in out
    assert "- [ ] `mm/buddy.c:" in out


def test_sarif_validates_with_one_rule_per_class(in_tree):
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    log = json.loads(command("--max-order", "18", "-f", "sarif", "-q").stdout)
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert not list(validator.iter_errors(log))
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [f"WI{i}" for i in range(1, 8)]
    assert log["runs"][0]["properties"]["whatIf"]["largest_order"] == 18


def test_nothing_to_list_exits_0(in_tree):
    result = command("include/linux/slab.h", "--max-order", "10", "-q")
    assert result.exit_code == 0
    assert "0 sites" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-order", "18", "-f", "html"], "unknown format 'html'"),
        (["--max-order", "18", "--arch", "vax"], "unknown preset 'vax'"),
        (["--max-order", "64"], "64 is not in the range"),
        (["--max-order", "18", "no/such/path"], "no/such/path"),
        ([], "Missing option '--max-order'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(in_tree, args, fragment, capsys):
    from kscan.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["what-if", *args])
    _, err = capsys.readouterr()
    assert exited.value.code == 2
    assert err.startswith("kscan: error: ") and len(err.splitlines()) == 1, err
    assert fragment in err


def test_outside_a_tree_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    from kscan.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["what-if", "--max-order", "18"])
    assert exited.value.code == 2
    assert "is not in a kernel tree" in capsys.readouterr().err


def test_explain_prints_a_class_doc(capsys):
    from kscan.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["explain", "WI1"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("WI1 buddy-arithmetic  [family what-if")
    assert "Example (6.12 mm/page_alloc.c" in out and "Fix:" in out


# --- the evaluator ------------------------------------------------------------------------


def test_conditions_evaluate_with_the_geometry_and_the_configuration():
    from kscan.model.geometry import PRESETS
    from kscan.whatif.target import Target, compiled, describe_orders, evaluate

    target = Target(18, PRESETS["x86_64"], "inclusive-renamed")
    values = target.values()
    assert evaluate("(MAX_PAGE_ORDER + PAGE_SHIFT) > SECTION_SIZE_BITS", values) == 1
    assert evaluate("1UL << (PFN_SECTION_SHIFT - pageblock_order)", values) == 64
    assert evaluate("PFN_SECTION_SHIFT - pageblock_order", target.values(hugetlb=False)) == -3
    assert evaluate("MIN_T(int, 1, 2)", values) is None  # a macro it cannot expand
    assert describe_orders([0, 1, 2, 9]) == "N <= 2 or N = 9"
    config = (frozenset({"CONFIG_SPARSEMEM"}), frozenset({"CONFIG_FLATMEM"}))
    assert not compiled(["!(defined(CONFIG_SPARSEMEM))"], config)
    assert not compiled(["(defined(CONFIG_FLATMEM)) && (defined(CONFIG_X))"], config)
    assert compiled(["(defined(CONFIG_X))", "!(defined(_HEADER_H))"], config)
    assert compiled(["IS_ENABLED(CONFIG_FLATMEM)"], config)  # not evaluable: built


def test_a_size_is_the_value_its_statement_assigns():
    sites = listed(WHATIF / "tree-6.1").sites
    ternary = next(s for s in sites if s.location.function == "sgl_block_size")
    assert ternary.message.endswith("is 4 MiB today, 1 GiB at N = 18")


def test_code_the_architecture_does_not_build_is_not_listed():
    """drivers/misc/arm64_pool.o depends on ARM64 || COMPILE_TEST (Kconfig)."""
    paths = {s.location.path for s in listed(WHATIF / "tree-6.12").sites}
    assert "drivers/misc/pool.c" in paths and "drivers/misc/arm64_pool.c" not in paths
    arm64 = {s.location.path for s in listed(WHATIF / "tree-6.12", 18, "arm64-4k").sites}
    assert "drivers/misc/arm64_pool.c" in arm64
