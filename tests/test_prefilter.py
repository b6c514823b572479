"""The prefilter may skip files, never findings: prefiltered runs equal exhaustive ones."""

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kscan.discover.prefilter import Needs, Prefilter, needs
from kscan.engine import Options, _prefilter, scan

FIXTURES = Path(__file__).parent / "fixtures"
TREES = sorted(p.parent for p in FIXTURES.glob("*/Makefile"))


def findings(paths, prefilter: bool, jobs: int = 1):
    result = scan(
        Options(paths=[str(p) for p in paths], jobs=jobs, cache=False, prefilter=prefilter)
    ).result
    return result, sorted(
        (f.rule_id, f.location.path, f.location.line, f.message) for f in result.findings
    )


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_prefiltered_run_equals_exhaustive_run(tree):
    fast, fast_findings = findings([tree], prefilter=True)
    full, full_findings = findings([tree], prefilter=False)
    assert fast_findings == full_findings
    assert fast.stats.files == full.stats.files


def test_prefilter_skips_files_no_rule_can_use(tmp_path):
    (tmp_path / "plain.c").write_text("int add(int a, int b) { return a + b; }\n")
    (tmp_path / "walk.c").write_text(
        "void f(unsigned long s, unsigned long e)\n{\n\tunsigned long pfn;\n\n"
        "\tfor (pfn = s; pfn < e; pfn++)\n\t\ttouch(pfn_to_page(pfn));\n}\n"
    )
    result, found = findings([tmp_path], prefilter=True)
    assert (result.stats.files, result.stats.parsed) == (2, 1)
    assert [(rule, Path(path).name, line) for rule, path, line, _ in found] == [
        ("KS001", "walk.c", 6)
    ]


HUGETLB_WALK = (
    "void clear_gigantic(struct page *page, unsigned long nr_pages)\n{\n"
    "\tunsigned long i;\n\n\tfor (i = 0; i < nr_pages; i++, page++)\n\t\tclear_page(page);\n}\n"
)


def test_a_file_whose_words_meet_a_need_only_across_functions_is_not_parsed(tmp_path):
    """KS003 wants hugetlb/CMA words, a page count and struct page in one function (or in
    the path).  Scattered over functions they meet the need for the file, for no part."""
    mm = tmp_path / "mm"
    mm.mkdir()
    (mm / "apart.c").write_text(
        "int hugetlb_count(void)\n{\n\treturn 1;\n}\n\n"
        + HUGETLB_WALK.replace("clear_gigantic", "clear_range").replace("struct page", "void")
        + "\nvoid note(struct page *p)\n{\n\tput(p);\n}\n"
    )
    (mm / "together.c").write_text(HUGETLB_WALK.replace("clear_gigantic", "hugetlb_clear"))
    fast, fast_findings = findings([tmp_path / "mm"], prefilter=True)
    full, full_findings = findings([tmp_path / "mm"], prefilter=False)
    assert fast_findings == full_findings
    assert [(rule, Path(path).name) for rule, path, _, _ in fast_findings] == [
        ("KS003", "together.c")
    ]
    assert (fast.stats.parsed, full.stats.parsed) == (1, 2)


def test_rule_words_in_comments_make_nothing_worth_parsing(tmp_path):
    """A comment that names pfn_to_page() or MAX_ORDER gives no fact: neither its body
    nor its file is parsed for it.  A `/*` in a string opens no comment."""
    (tmp_path / "notes.c").write_text(
        "/* callers must not walk with pfn_to_page() past MAX_ORDER */\n"
        "int noted(unsigned long pfn)\n{\n\t// pfn_to_page(pfn) is not ours to call\n"
        "\treturn pfn > 1;\n}\n"
    )
    (tmp_path / "quoted.c").write_text(
        'const char *open = "/*";\n' + HUGETLB_WALK.replace("clear_page(page)", "pfn_to_page(i)")
    )
    fast, fast_findings = findings([tmp_path], prefilter=True)
    _, full_findings = findings([tmp_path], prefilter=False)
    assert fast_findings == full_findings
    assert fast.stats.parsed == 1  # quoted.c: its walk is code, not the inside of a comment


def test_follow_round_finds_a_helper_of_a_helper(tmp_path):
    """lookup_outer() validates only through lookup_inner(), in a file that names no
    validity check and no memmap accessor: only a follow-up round parses it."""
    (tmp_path / "inner.c").write_text(
        "struct page *lookup_inner(unsigned long pfn)\n{\n\tif (!pfn_valid(pfn))\n"
        "\t\treturn NULL;\n\treturn pfn_to_page(pfn);\n}\n"
    )
    (tmp_path / "outer.c").write_text(
        "struct page *lookup_outer(unsigned long pfn)\n{\n\tstruct page *p = lookup_inner(pfn);\n"
        "\n\tif (!p)\n\t\treturn NULL;\n\treturn p;\n}\n"
    )
    (tmp_path / "walk.c").write_text(
        "void scan_range(unsigned long s, unsigned long e)\n{\n\tunsigned long pfn;\n\n"
        "\tfor (pfn = s; pfn < e; pfn++) {\n\t\tstruct page *head = lookup_outer(pfn);\n\n"
        "\t\tif (!head)\n\t\t\tcontinue;\n\t\ttouch(pfn_to_page(pfn));\n\t}\n}\n"
    )
    fast, fast_findings = findings([tmp_path], prefilter=True)
    _, full_findings = findings([tmp_path], prefilter=False)
    assert fast_findings == full_findings == []
    assert fast.stats.parsed == 3  # outer.c came in through the follow-up round


def test_needs_groups_and_path_words():
    need = needs(["hugetlb_", "cma_"], ["nr_pages"], path_words=["hugetlb", "cma"])
    assert need.met(b"void f(void) { nr_pages++; }", b"mm/hugetlb.c")
    assert need.met(b"void cma_f(void) { nr_pages++; }", b"mm/x.c")
    assert not need.met(b"void f(void) { nr_pages++; }", b"mm/filemap.c")
    assert not need.met(b"cma_alloc();", b"mm/cma.c")  # the second group is missing
    screen = Prefilter([need])
    assert screen.wants(b"x = nr_pages;", "mm/hugetlb.c")
    assert not screen.wants(b"x = nr_pages;", "mm/slab.c")
    assert Prefilter([need, None]).wants(b"", "anything.c")  # None: every file matters


RULE_WORDS = sorted({w for n in _prefilter().wanted for g in n.groups for w in g})


@given(
    st.lists(st.sampled_from([*RULE_WORDS, b"x", b"(", b"pfn", b"_"]), max_size=12),
    st.sampled_from(["mm/page_alloc.c", "mm/hugetlb.c", "mm/cma.c", "drivers/x.c"]),
)
def test_screening_never_changes_what_the_prefilter_wants(words, path):
    """Each need is screened by its cheapest group's stems, or by its own words (a
    follow-up round's); the answer must be the exact test's (every group met, by a
    word or the path)."""
    src = b" ".join(words)
    exact = any(need.met(src, path.encode()) for need in _prefilter().wanted)
    assert _prefilter().wants(src, path) == exact
    assert Prefilter(_prefilter().wanted, stems=()).wants(src, path) == exact


@given(st.lists(st.sampled_from([b"pfn", b"pfn_valid", b"early_pfn_valid", b"valid", b"x"])))
def test_a_group_less_its_longer_words_meets_the_same_texts(words):
    """needs() drops a word that holds another of its group: one search answers both."""
    group = (b"early_pfn_valid", b"pfn_valid_within", b"pfn_valid", b"valid_section")
    assert needs(group).groups == ((b"pfn_valid", b"valid_section"),)
    src = b"".join(words)
    assert needs(group).met(src) == Needs((group,)).met(src)


@given(
    st.lists(st.sampled_from([*RULE_WORDS, b"x", b"pfn", b"}", b"}\n"]), max_size=24),
    st.sampled_from(["mm/page_alloc.c", "mm/hugetlb.c", "mm/cma.c", "drivers/x.c"]),
    st.data(),
)
def test_testing_ranges_at_once_answers_as_one_by_one(words, path, data):
    """wants_each finds the stems once per file; each range's answer must still be
    wants() of its text, whether a stem sits inside it, across its edge or nowhere."""
    src = b" ".join(words)
    starts = [0] + [len(b" ".join(words[:i])) + 1 for i in range(1, len(words))]  # of each word
    cuts = data.draw(st.sets(st.sampled_from(starts) | st.integers(0, len(src)), max_size=8))
    cuts = sorted(cuts | {0, len(src)})
    ranges = list(zip(cuts, cuts[1:], strict=False))
    screen = _prefilter()
    assert screen.wants_each(src, ranges, path) == [screen.wants(src[a:b], path) for a, b in ranges]


def test_a_path_word_stands_in_for_words_in_every_range():
    """KS003 takes hugetlb code by its path: a body of mm/hugetlb.c needs no hugetlb word."""
    src = b"{ x(); }\n{ struct page *p = head; nr_pages++; }"
    assert _prefilter().wants_each(src, [(0, 9), (9, len(src))], "mm/hugetlb.c") == [False, True]
    assert _prefilter().wants_each(src, [(0, 9), (9, len(src))], "mm/slab.c") == [False, False]


@pytest.mark.slow
def test_prefiltered_equals_exhaustive_on_real_mm():
    tree = os.environ.get("KSCAN_KERNEL_6_12")
    if not tree or not Path(tree, "mm").is_dir():
        pytest.skip("KSCAN_KERNEL_6_12 not set")
    fast, fast_findings = findings([Path(tree, "mm")], prefilter=True, jobs=2)
    _, full_findings = findings([Path(tree, "mm")], prefilter=False, jobs=2)
    assert fast_findings == full_findings
    assert fast.stats.parsed < fast.stats.files
