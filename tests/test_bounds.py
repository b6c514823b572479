"""Property tests: the work kscan does grows linearly with nesting and length.

Hypothesis draws kernel-like C: a level of nesting (a loop of any kind, an iterator
macro, an if, an else-if, a switch, a block) with statements before and after the
place the next level goes (accesses, checks, check results kept in variables, guarded
exits, ?:, && chains, page arithmetic), and a run of such statements.  Each shape is
analysed at two sizes, k and 4k levels deep or k and 4k times as long, and the steps
(lines of Python run: kscan/facts/budget.py, the same on a busy machine) of the facts
and every rule must grow at most 4.5 times, where linear work grows 4 times and the
fixed cost of a file less.  Quadratic work grows 16 times.  Every run must also end
without an error.  bench/growth.py measures the same for chosen shapes, further out.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kscan.rules import RULES
from snippets import WALK, WALK_LINE, many_walks

from kscan.analysis.project import Project
from kscan.discover.treeinfo import TreeInfo, read_tree_info
from kscan.facts.budget import counting_steps
from kscan.facts.records import FileFacts
from kscan.facts.workers import facts_from_bytes
from kscan.model.judge import contexts, judge
from kscan.whatif.run import what_if

FAST = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GROWTH = 4.5  # the most the steps may grow when the input grows 4 times
SMALL = 12  # levels or repeats of the smaller size

PFN = ["pfn", "start_pfn", "low_pfn"]
STATEMENTS = [
    "{a}(pfn_to_page({v}));",
    "{a}(pfn_to_page({v} + i));",
    "page = pfn_to_online_page({v});",
    "ok = pfn_valid({v});",
    "if (!pfn_valid({v}))\n\tcontinue;",
    "if (!page)\n\tcontinue;",
    "if (!ok)\n\tbreak;",
    "if (IS_ALIGNED({v}, pageblock_nr_pages) && !pfn_valid({v}))\n\tgoto out;",
    "if (pfn_valid({v}) && PageBuddy(pfn_to_page({v})))\n\treturn;",
    "x = {v} > n ? pfn_to_page({v}) : NULL;",
    "{v} = ALIGN({v} + 1, MAX_ORDER_NR_PAGES);",
    "touch(page + i);",
    "nr[order] = MAX_PAGE_ORDER;",
    "if (order >= MAX_PAGE_ORDER)\n\treturn;",
    "end = ALIGN({v}, MAX_ORDER_NR_PAGES);",
    "helper(zone, {v});",
]
LEVELS = [
    ("for ({v} = start; {v} < end; {v}++) {{", "}}"),
    ("for ({v} = start; {v} < end; {v}++)", ""),
    ("while ({v} < end) {{\n{v}++;", "}}"),
    ("do {{", "}} while (++{v} < end);"),
    ("for_each_mem_pfn_range(i, nid, &start, &end, NULL) {{", "}}"),
    ("for_each_zone(zone) {{", "}}"),
    ("list_for_each_entry(page, &zone->list, lru) {{", "}}"),
    ("if (pfn_valid({v})) {{", "}}"),
    ("if ({v} == n)\n\tnr++;\nelse {{", "}}"),
    ("if (page && {v} < end) {{", "}} else {{\n{a}(pfn_to_page({v}));\n}}"),
    ("switch ({v} & 3) {{\ncase 1:", "}}"),
    ("{{", "}}"),
]


def statement(template: str, v: str) -> str:
    return template.format(v=v, a="mark") + "\n"


@st.composite
def statements(draw, max_size: int = 3) -> str:
    chosen = draw(st.lists(st.sampled_from(STATEMENTS), max_size=max_size))
    return "".join(statement(t, draw(st.sampled_from(PFN))) for t in chosen)


# the levels that neither loop nor call a check: ifs, else-ifs, switches, blocks
GUARDS = [
    level
    for level in LEVELS
    if not level[0].startswith(("for", "while", "do", "list")) and "valid" not in level[0]
]


@st.composite
def levels(
    draw, kinds: list[tuple[str, str]] = LEVELS, filled: bool = True
) -> list[tuple[str, str]]:
    """Levels of a nest, as (text before the next level, text after it); `filled`:
    with statements around the next level."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        head, tail = draw(st.sampled_from(kinds))
        v = draw(st.sampled_from(PFN))
        before, after = (draw(statements()), draw(statements())) if filled else ("", "")
        out.append((f"{head.format(v=v)}\n{before}", f"{after}{tail.format(v=v, a='mark')}\n"))
    return out


def function(body: str) -> str:
    return (
        "static void walk(struct zone *zone, unsigned long start, unsigned long end)\n{\n"
        "\tunsigned long pfn, start_pfn, low_pfn, i, n, order, nr[16];\n"
        "\tstruct page *page;\n\tbool ok;\n\n"
        f"{body}out:\n\treturn;\n}}\n"
    )


def nest(shape: list[tuple[str, str]], depth: int, inner: str, around: str = "") -> str:
    """The shape's levels, depth of them (its levels in turn), around `inner`; all of it
    under one guard `around` (an if's condition) when there is one."""
    heads = "".join(shape[i % len(shape)][0] for i in range(depth))
    tails = "".join(shape[i % len(shape)][1] for i in reversed(range(depth)))
    body = heads + inner + tails
    if around:
        body = f"for (pfn = start; pfn < end; pfn++) {{\n{HELD}if ({around}) {{\n{body}}}\n}}\n"
    return function(body)


# a check's result in a variable, which a guard around a whole nest of guards tests
HELD = "page = pfn_to_online_page(pfn);\nok = pfn_valid(pfn);\n"
AROUND = ["page", "ok && page", "x && ok", "ok ? x : y"]


@cache
def tree() -> tuple[TreeInfo, list]:
    """A 6.12 tree in a temporary folder: range provenance reads the bytes of the
    functions it traces from the tree, as in a scan."""
    info = read_tree_info(None, "6.12")
    info = dataclasses.replace(info, root=Path(tempfile.mkdtemp(prefix="kscan-bounds-")))
    (info.root / "mm").mkdir()
    return info, contexts(info, None, None)


def analysed(source: str) -> FileFacts:
    """Facts, every rule and the model, as a scan runs them; an error fails the test."""
    info, models = tree()
    (info.root / "mm" / "shape.c").write_text(source)
    facts = facts_from_bytes(source.encode(), "mm/shape.c")
    assert isinstance(facts, FileFacts), facts
    project = Project([facts], info)
    findings = [finding for rule in RULES for finding in rule.check(project)]
    judge(findings, models)
    return facts


def steps(source: str) -> int:
    analysed(source)  # once before counting: compiled queries and the like are paid
    with counting_steps() as count:
        analysed(source)
    return count.steps


def assert_linear(small: str, large: str) -> None:
    few, many = steps(small), steps(large)
    assert many <= GROWTH * few, f"{few} steps, then {many} for 4 times the input"


@FAST
@given(levels(), statements(max_size=4))
def test_work_grows_linearly_with_nesting_depth(shape, inner):
    assert_linear(nest(shape, SMALL, inner), nest(shape, 4 * SMALL, inner))


@FAST
@given(st.sampled_from(AROUND), levels(GUARDS, filled=False))
def test_work_grows_linearly_under_a_guard_that_tests_a_result(around, shape):
    """A loop whose accesses, one at each level of a nest of ifs, are checked through
    `page` or `ok` from the guard around them all (no other statements: a check call
    among them would check the accesses below it)."""
    access = "mark(pfn_to_page(pfn));\n"
    shape = [(head + access, tail) for head, tail in shape]
    assert_linear(nest(shape, SMALL, access, around), nest(shape, 4 * SMALL, access, around))


@FAST
@given(levels(), statements(max_size=4))
def test_work_grows_linearly_with_statements(shape, run):
    """A nest of the shape a few levels deep, with a run of statements in the middle
    repeated k and 4k times."""
    assert_linear(nest(shape, 3, run * SMALL * 2), nest(shape, 3, run * SMALL * 8))


@FAST
@given(levels(), statements(max_size=4))
def test_work_grows_linearly_with_functions(shape, inner):
    one = nest(shape, 3, inner)
    renamed = [one.replace("walk(", f"walk{i}(", 1) for i in range(4 * SMALL)]
    assert_linear("".join(renamed[:SMALL]), "".join(renamed))


def test_tracing_walks_grows_linearly_with_walks_in_one_function():
    """Range provenance asks, for each walk, what the calls before it say of its range:
    once by reading every call of the body per walk, quadratic in a function of nested
    walks (5,000 of them took 95 s)."""
    assert_linear(nested_for(50), nested_for(200))


def test_tracing_walks_reads_a_files_ops_tables_once():
    """A walk over a parameter nothing calls looks for the ops tables that hold its
    function: once by reading the whole file per function (5,000 took 75 s, 40,000 did
    not end).  Regexes run in C, out of sight of the step count: CPU seconds, with a
    margin that a busy machine does not eat."""
    started = time.process_time()
    facts = analysed(many_walks(5000))
    assert time.process_time() - started < 15
    assert len(facts.functions) == 5000


def test_no_pattern_is_compiled_again_however_many_names_a_file_traces(monkeypatch):
    """re keeps 512 compiled patterns and drops the oldest.  kscan compiles a pattern per
    name it traces: a file with more names than that made re drop and compile them, and
    kscan's constant patterns, again and again (1.3x the work at once between 506 and
    507 nested loops, each over a variable of its own).  Analysed a second time, a file
    of 600 such names compiles nothing."""
    levels = "".join(
        f"for (i{i} = 0; i{i} < 8; i{i}++) {{\n"
        f"if (PageLRU(page))\nmark(pfn_to_page(pfn0 + i{i}));\n"
        for i in range(1, 600)
    )
    source = function("for (pfn0 = start; pfn0 < end; pfn0++) {\n" + levels + "}\n" * 600)
    analysed(source)
    compiles: list[object] = []
    compile_ = re._compiler.compile
    monkeypatch.setattr(
        re._compiler,
        "compile",
        lambda pattern, flags: compiles.append(pattern) or compile_(pattern, flags),
    )
    analysed(source)
    assert compiles == []


def test_a_file_on_one_line_gives_each_finding_a_part_of_it(tmp_path):
    """Minified or generated code puts a whole file on one line: each of 20,000
    findings carried its own decoded copy of a 1.7 MB line, 24 GB in all.  A finding
    keeps the 400 bytes around its column, cut with `...`; a short line stays whole."""
    from kscan.engine import Options, scan

    path = tmp_path / "one.c"
    path.write_text(many_walks(2000).replace("\n", " ") + "\n" + WALK)
    findings = scan(Options(paths=[str(path)], jobs=1, kernel_version="6.12", cache=False))
    shown = [f.source_line for f in findings.result.findings]
    assert len(shown) == 2001
    assert shown[-1] == WALK.splitlines()[WALK_LINE - 1].rstrip()
    on_the_line = shown[:-1]
    assert all(len(s) <= 406 and "pfn_to_page(pfn)" in s for s in on_the_line)
    assert on_the_line[0].startswith("static void f0(") and on_the_line[0].endswith("...")
    assert on_the_line[-1].startswith("...") and on_the_line[-1].endswith("pfn_to_page(pfn); }")
    assert sum(s.startswith("...") and s.endswith("...") for s in on_the_line) > 1990


# --- kscan what-if: the same bound ----------------------------------------------------------

DEMO = Path(__file__).parent / "fixtures" / "demo"
# What the what-if classes look at, once: a skip of a MAX_ORDER block after a failed
# per-section test, a struct page walk over a block, a per-order loop, a limit.
WHAT_IF_LEVEL = """while (pfn < end) {
page = pfn_to_online_page(pfn);
if (!page) {
pfn = ALIGN(pfn + 1, MAX_ORDER_NR_PAGES);
continue;
}
pfn++;
}
for (i = 0; i < (1 << order); i++)
mark(page + i);
for (order = 0; order < NR_PAGE_ORDERS; order++)
nr[order] = 0;
if (n > MAX_PAGE_ORDER)
return;
"""


@pytest.fixture
def what_if_steps(tmp_path):
    """The steps of `kscan what-if --max-order 15` on a source in a small 6.12 tree."""
    for name in ("Makefile", "include/linux/mmzone.h"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((DEMO / name).read_bytes())
    shape = tmp_path / "mm" / "shape.c"
    shape.parent.mkdir()

    def count(source: str) -> int:
        shape.write_text(source)
        what_if([str(shape)], 15, "x86_64", jobs=1)  # compiled queries and the like
        with counting_steps() as counted:
            assert what_if([str(shape)], 15, "x86_64", jobs=1).sites
        return counted.steps

    return count


def test_what_if_work_grows_linearly_with_what_one_function_holds(what_if_steps):
    """Each use of the largest order looked at every loop of its file for the one whose
    head it is in, and at every loop of its function for the variables they step: 2,000
    of them took 50 s."""
    few, many = (what_if_steps(function(WHAT_IF_LEVEL * k)) for k in (SMALL, 4 * SMALL))
    assert many <= GROWTH * few, f"{few} steps, then {many} for 4 times the input"


def test_what_if_work_grows_linearly_with_functions(what_if_steps):
    """Each function looked at every loop and every use of its file for its own."""
    one = function(WHAT_IF_LEVEL * 2)
    renamed = [one.replace("walk(", f"walk{i}(", 1) for i in range(4 * SMALL)]
    few, many = what_if_steps("".join(renamed[:SMALL])), what_if_steps("".join(renamed))
    assert many <= GROWTH * few, f"{few} steps, then {many} for 4 times the input"


# --- the inputs of issue #18, which ran for minutes: slow, opt-in --------------------------


def nested_for(depth: int) -> str:
    return function(
        "for (pfn = start; pfn < end; pfn++) {\nmark(pfn_to_page(pfn));\n" * depth + "}\n" * depth
    )


def nested_do(depth: int) -> str:
    return function("do {\nmark(pfn_to_page(pfn));\n" * depth + "} while (++pfn < end);\n" * depth)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make", "findings"),
    [
        (lambda: nested_for(5000), 5000),
        (lambda: many_walks(40_000), 40_000),
        (lambda: nested_do(5000), 5000),
    ],
    ids=["5000-nested-fors", "40000-functions", "5000-nested-dos"],
)
def test_the_inputs_that_ran_for_minutes_end(make, findings):
    """Each took minutes or did not end (120 s, 60 s, 10 min); now seconds.  CPU time,
    with a margin for a busy machine."""
    started = time.process_time()
    facts = analysed(make())
    assert time.process_time() - started < 60
    info, _ = tree()
    project = Project([facts], info)
    assert sum(1 for rule in RULES for _ in rule.check(project)) == findings
