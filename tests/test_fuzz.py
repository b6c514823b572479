"""Property tests: whatever the bytes, facts extraction, every rule and the model never
raise, and the command line never prints a traceback.

Inputs are random bytes and mutations (token inserts, deletes, duplicates, swaps,
truncation, stray preprocessor lines, unbalanced braces, attribute macros) of the
kernel-style fixtures under tests/fixtures, read when the tests run.  The fast tests
keep max_examples modest; the slow ones run many more.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kscan.rules import RULES

from kscan.analysis.project import Project
from kscan.discover.treeinfo import read_tree_info
from kscan.facts.extract import extract
from kscan.facts.records import FileFacts
from kscan.model.judge import contexts, judge
from kscan.parse.parser import new_parser, parse

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
REPO = TESTS.parent

FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_TOKEN = re.compile(rb"[A-Za-z_]\w*|\d\w*|\s+|/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|.", re.S)
# What kernel code and its breakage are made of.
INSERTS = [
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b";",
    b",",
    b"\n",
    b"\\\n",
    b"/*",
    b"*/",
    b'"',
    b"'",
    b"#ifdef CONFIG_SPARSEMEM\n",
    b"#else\n",
    b"#endif\n",
    b"#if 0\n",
    b"#define X(a) (a\n",
    b"__init ",
    b"__meminit ",
    b"__acquires(zone->lock) ",
    b'__section(".x") ',
    b"noinline ",
    b"for_each_online_node(nid) ",
    b"for_each_valid_pfn(pfn, start, end) ",
    b"for (pfn = start; pfn < end; pfn++) ",
    b"while (pfn < end_pfn) ",
    b"do { ",
    b"} while (0);",
    b"if (!pfn_valid(pfn)) continue;",
    b"if (!pfn_valid(pfn)) ",
    b"goto out;",
    b"out:",
    b"break;",
    b"pfn_to_page(pfn)",
    b"page++",
    b"pfn += pageblock_nr_pages;",
    b"page + i",
    b"page[i]",
    b"MAX_ORDER",
    b"MAX_PAGE_ORDER",
    b"NR_PAGE_ORDERS",
    b"MAX_ORDER_NR_PAGES",
    b"1 << order",
    b"order <= MAX_ORDER",
    b"order < MAX_ORDER",
    b"free_area[order]",
    b"[MAX_ORDER + 1]",
    b"alloc_contig_range(start, end, MIGRATE_MOVABLE, GFP_KERNEL)",
    b"return NULL;",
    b"static ",
    b"inline ",
    b"struct page *",
    b"unsigned long ",
    b"\xff\xfe",
    b"\xc3\xa9",
    b"$",
    b"\t",
    b"\r\n",
    b"\r",
    b"\0",
]


@cache
def snippets() -> tuple[bytes, ...]:
    found = tuple(p.read_bytes() for p in sorted(FIXTURES.rglob("*.[ch]")))
    assert len(found) >= 8
    return found


@cache
def _parser():
    return new_parser()


@cache
def _trees():
    trees = [read_tree_info(None, "5.10"), read_tree_info(None, "6.12")]
    return [(tree, contexts(tree, None, None)) for tree in trees]


def analyse(sources: dict[str, bytes]) -> list[FileFacts]:
    """Facts, every rule and the model over `sources`; raises whatever any of them raise."""
    files = []
    for rel, data in sources.items():
        facts = extract(rel, parse(_parser(), data))
        check_facts(facts, data)
        files.append(facts)
    for tree, models in _trees():
        project = Project(files, tree)
        findings = []
        for rule in RULES:
            findings.extend(rule.check(project))
        judged = judge(findings, models)
        lines = {f.path: f.lines for f in files}
        for finding in judged:
            where = finding.location
            assert where.path in lines
            assert 1 <= where.line <= lines[where.path], finding
    return files


def check_facts(facts: FileFacts, data: bytes) -> None:
    assert facts.lines == data.count(b"\n") + 1
    for fn in facts.functions:
        assert 0 <= fn.span.start_byte <= fn.span.end_byte <= len(data)
        assert 1 <= fn.span.start_line <= fn.span.end_line <= facts.lines
    for loop in facts.loops:
        assert 0 <= loop.span.start_byte <= loop.span.end_byte <= len(data)
        assert 1 <= loop.span.start_line <= facts.lines


# --- mutations ---------------------------------------------------------------------------


@st.composite
def mutated(draw) -> bytes:
    """A fixture file, tokenised and mutated a few times."""
    source = draw(st.sampled_from(snippets()))
    tokens = _TOKEN.findall(source)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["insert", "delete", "duplicate", "swap", "truncate", "brace"]))
        i = draw(st.integers(0, len(tokens)))
        j = draw(st.integers(0, len(tokens)))
        i, j = min(i, j), max(i, j)
        if op == "insert":
            tokens[i:i] = [draw(st.sampled_from(INSERTS))]
        elif op == "delete":
            del tokens[i : min(j, i + 40)]
        elif op == "duplicate":
            tokens[j:j] = tokens[i : min(j, i + 200)]
        elif op == "swap" and i < j < len(tokens):
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "truncate" and tokens:
            tokens = tokens[: max(1, j)]
        elif op == "brace":
            tokens[i:i] = [draw(st.sampled_from([b"{" * 30, b"}" * 30, b"(" * 30, b"\n}\n"]))]
    return b"".join(tokens)


def snippet_lines() -> st.SearchStrategy[bytes]:
    """Lines of the fixtures in random order and number: plausible, never a program."""
    return st.lists(
        st.sampled_from([line for s in snippets() for line in s.splitlines(keepends=True)]),
        max_size=120,
    ).map(b"".join)


# --- fast --------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    analyse({"fuzz.c": data})


@FAST
@given(mutated())
def test_mutated_kernel_code(data):
    analyse({"mm/fuzz.c": data, "mm/plain.c": snippets()[0]})


@FAST
@given(snippet_lines(), st.sampled_from([b"\n", b"\r\n"]))
def test_shuffled_kernel_lines(data, newline):
    analyse({"mm/lines.c": data.replace(b"\n", newline)})


@FAST
@given(st.lists(st.sampled_from(INSERTS), max_size=200).map(b"".join))
def test_token_soup(data):
    analyse({"soup.c": data})


def fuzzed_files(seed: int, count: int) -> dict[str, bytes]:
    """Deterministic fuzzed files for the command line, without hypothesis."""
    rng = random.Random(seed)
    files = {}
    for i in range(count):
        source = rng.choice(snippets())
        tokens = _TOKEN.findall(source)
        for _ in range(rng.randint(1, 10)):
            k = rng.randrange(len(tokens) + 1)
            if rng.random() < 0.5:
                tokens[k:k] = [rng.choice(INSERTS)]
            else:
                del tokens[k : k + rng.randint(1, 30)]
        data = b"".join(tokens)
        if i % 7 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
        files[f"mm/f{i:03d}.{'h' if i % 5 == 0 else 'c'}"] = data
    return files


def run_cli(tmp_path: Path, files: dict[str, bytes], *args: str) -> dict:
    for rel, data in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    proc = subprocess.run(
        [sys.executable, "-m", "kscan", "mm", "-f", "json", "--kernel-version", "6.12", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    assert all(line.startswith("kscan: ") for line in proc.stderr.splitlines()), proc.stderr
    report = json.loads(proc.stdout)
    assert report["stats"]["files"] <= len(files)
    assert report["stats"]["skipped"] <= len(files)
    assert not any("internal error" in w for w in report.get("warnings", [])), report["warnings"]
    return report


def test_cli_over_fuzzed_files(tmp_path):
    # 40 files and -j 2: the process pool, not the in-process loop
    run_cli(tmp_path, fuzzed_files(seed=6, count=40), "-j", "2", "-v")


# --- slow --------------------------------------------------------------------------------


@pytest.mark.slow
@SLOW
@given(st.binary(max_size=65536))
def test_random_bytes_many(data):
    analyse({"fuzz.c": data})


@pytest.mark.slow
@SLOW
@given(st.lists(mutated(), min_size=1, max_size=4))
def test_mutated_kernel_code_many(files):
    analyse({f"mm/fuzz{i}.c": data for i, data in enumerate(files)})


@pytest.mark.slow
@SLOW
@given(snippet_lines(), st.lists(st.sampled_from(INSERTS), max_size=60).map(b"".join))
def test_shuffled_lines_and_soup_many(lines, soup):
    analyse({"mm/lines.c": lines + soup, "mm/soup.c": soup + lines})


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_cli_over_fuzzed_files_many(tmp_path, seed):
    run_cli(tmp_path, fuzzed_files(seed=seed, count=120), "-j", "4")
