"""Bodies the parser skips: which ones, and calls read from their bytes as the parser would."""

import time
from pathlib import Path

import pytest
import tree_sitter as ts

from kscan.engine import _prefilter
from kscan.facts.body_values import body_facts, registrations
from kscan.facts.calls import calls_in
from kscan.facts.extract import extract
from kscan.facts.records import Call
from kscan.parse.bodies import column0_bodies, parts, skipped_interiors
from kscan.parse.parser import LANGUAGE, new_parser, parse

FIXTURES = Path(__file__).parent / "fixtures"

TRICKY = b"""\
static int report(struct zone *zone, unsigned long nr)
{
\t/* lock(zone) in a comment, and "a string(with parens" */
\tconst char *s = "call(me)";
\tchar c = '(';
#if defined(CONFIG_FOO) && \\
    defined(BAR)
\tlock(zone);
#endif
\tzone->ops->refresh(zone);\t/* a member call: not a call to a name */
\tops.flush(nr);
\tif (sizeof(long) > 4 && likely(nr))
\t\twhile (account(zone, min(nr, (unsigned long)(PAGE_SIZE * (2 + (nr >> 1)))), s))
\t\t\tnr--;
\treturn helper (zone,
\t\t       nr) + typeof_thing(c);
}
"""


def kept(src: bytes, path: str = "mm/x.c") -> list[bool]:
    """The bodies the first round parses (kscan/facts/workers.py)."""
    return _prefilter().wants_each(src, parts(src, column0_bodies(src)), path)[:-1]


_TREE_CALLS = ts.Query(
    LANGUAGE, "(call_expression function: (identifier) @name arguments: (argument_list) @args)"
)


def fast_skipped(src: bytes):
    return skipped_interiors(column0_bodies(src), kept(src))


def tree_calls(src: bytes, start: int = 0, end: int | None = None) -> list[Call]:
    """Calls as tree-sitter-c sees them in a whole-file parse, independently of kscan's."""
    tree = parse(new_parser(), src).tree
    found = []
    for _, match in ts.QueryCursor(_TREE_CALLS).matches(tree.root_node):
        name, args = match["name"][0], match["args"][0]
        row, col = name.start_point
        text = src[args.start_byte : args.end_byte].decode()
        found.append(Call(name.text.decode(), text, row + 1, col + 1, name.start_byte))
    end = len(src) if end is None else end
    return sorted((c for c in found if start <= c.byte < end), key=lambda c: c.byte)


def byte_calls(src: bytes):
    return calls_in(src, column0_bodies(src)[:1])


def test_calls_from_bytes_equal_the_parsers():
    assert byte_calls(TRICKY) == tree_calls(TRICKY)
    names = [c.name for c in byte_calls(TRICKY)]
    assert names == ["lock", "likely", "account", "min", "helper", "typeof_thing"]
    assert byte_calls(TRICKY)[4].args_text == "(zone,\n\t\t       nr)"


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.rglob("*.c")), ids=lambda p: str(p.relative_to(FIXTURES))
)
def test_fixture_bodies_give_the_same_calls_either_way(path):
    """Every kernel-style body of every fixture: bytes and tree agree call for call."""
    src = path.read_bytes()
    bodies = column0_bodies(src)
    assert calls_in(src, bodies) == [call for o, c in bodies for call in tree_calls(src, o, c)]


def test_only_kernel_style_balanced_bodies_are_candidates():
    src = (
        b"static struct ops table =\n{\n\t.f = f,\n};\n"  # an initializer: no `)` before
        b"int f(int a)\n{\n\treturn a;\n}\n"
        b"int g(int a) {\n\treturn a;\n}\n"  # brace on the signature line: not kernel style
        b"int h(int a)\n{\n#ifdef X\n\tif (a) {\n#else\n\tif (!a) {\n#endif\n\t\ta++;\n\t}\n}\n"
    )
    bodies = column0_bodies(src)
    assert [src[:o].splitlines()[-1] for o, _ in bodies] == [b"int f(int a)"]


def test_skippable_keeps_bodies_that_name_the_rules_words():
    src = (
        b"static void plain(int a)\n{\n\tprint(a);\n}\n\n"
        b"static void walker(unsigned long s, unsigned long e)\n{\n"
        b"\tfor (; s < e; s++)\n\t\ttouch(pfn_to_page(s));\n}\n"
    )
    assert [src[a:b] for a, b in fast_skipped(src)] == [b"\n\tprint(a);\n"]


def test_a_skipped_body_keeps_its_function_and_calls():
    """...and the arguments of its calls to the file's static functions, not others."""
    src = (
        b"static void plain(int a)\n{\n\tu8 buf[8] __aligned(8);\n\n\tprint(a);\n"
        b"\tfor (;;)\n\t\tspin(a, __builtin_offsetof(struct s, f));\n"
        b"\twalker(a, a + pageblock_nr_pages);\n}\n\n"
        b"static void walker(unsigned long s, unsigned long e)\n{\n"
        b"\tfor (; s < e; s++)\n\t\ttouch(pfn_to_page(s));\n}\n"
    )
    fast = extract("mm/x.c", parse(new_parser(), src, keep=kept(src)))
    full = extract("mm/x.c", parse(new_parser(), src))
    assert fast.functions[0].body.start_byte in {start - 1 for start, _ in fast_skipped(src)}
    plain_args = [(c.name, c.args_text) for c in fast.functions[0].calls]
    assert plain_args == [("print", ""), ("spin", ""), ("walker", "(a, a + pageblock_nr_pages)")]

    def without_args(fn):
        return fn._replace(calls=tuple(c._replace(args_text="") for c in fn.calls))

    assert without_args(fast.functions[0]) == without_args(full.functions[0])
    assert fast.functions[1] == full.functions[1]  # walker: parsed, every argument kept
    assert [lp.function for lp in fast.loops] == ["walker"]  # plain's loop was not parsed
    assert [lp.function for lp in full.loops] == ["plain", "walker"]


def test_a_file_without_kernel_style_bodies_parses_whole():
    src = b"#define PFN_UP(x) ((x) >> 12)\nstatic inline int f(void) { return 0; }\n"
    assert fast_skipped(src) == []
    facts = extract("mm/x.h", parse(new_parser(), src, keep=kept(src, "mm/x.h")))
    assert facts.functions[0].name == "f"


# -- body facts: values a body passes on (range provenance) ---------------------------

VALUES = b"""\
static int walk(struct zone *zone, unsigned long start)
{
\tunsigned long pfn, end_pfn = start + zone->spanned_pages, x = min(a, b);
\tstruct page *page = pfn_to_page(start);
\t*nr = 3;\t\t/* a store through a pointer: no value of nr */
\t/* c = 4; in a comment */
\tif (a == b && c <= d && e != f)
\t\targs->pud_pfn = page_to_pfn(page);
\tfor (pfn = start, i = 0; pfn < end_pfn; pfn++)
\t\tend_pfn += 2;
\tfor_each_mem_pfn_range(i, nid, &first, &last, NULL) {
\t\tops->hook(zone, first);
\t}
\tret = kstrtoul(buf, 0, &val);
\treturn 0;
}
static const struct file_operations fops = {
\t.write = walk_write,
};
DEFINE_DEBUGFS_ATTRIBUTE(hw_fops, NULL, inject, "%lli\\n");
static DEVICE_ATTR_WO(soft_offline_page);
"""


def values_facts():
    ((start, close),) = column0_bodies(VALUES)[:1]
    return body_facts(VALUES, start, close + 1, VALUES[:start].count(b"\n") + 1)


def test_body_facts_read_the_values_a_body_gives():
    got = [(a.lhs, a.op, a.rhs, a.line) for a in values_facts().assignments]
    assert got == [
        ("end_pfn", "=", "start + zone->spanned_pages", 3),
        ("x", "=", "min(a, b)", 3),
        ("page", "=", "pfn_to_page(start)", 4),
        ("args->pud_pfn", "=", "page_to_pfn(page)", 8),
        ("pfn", "=", "start", 9),
        ("i", "=", "0", 9),
        ("end_pfn", "+=", "2", 10),
        # an iterator sets its cursor and what it is handed by address
        ("i", "&", "for_each_mem_pfn_range(i, nid, &first, &last, NULL)", 11),
        ("first", "&", "for_each_mem_pfn_range(i, nid, &first, &last, NULL)", 11),
        ("last", "&", "for_each_mem_pfn_range(i, nid, &first, &last, NULL)", 11),
        ("ret", "=", "kstrtoul(buf, 0, &val)", 14),
        ("val", "&", "kstrtoul(buf, 0, &val)", 14),
    ]


def test_body_facts_keep_every_calls_arguments_and_member_calls():
    facts = values_facts()
    assert [(c.name, c.args_text, c.line) for c in facts.calls] == [
        (c.name, c.args_text, c.line) for c in tree_calls(VALUES, end=VALUES.index(b"\n}") + 2)
    ]
    assert [(c.name, c.args_text, c.line) for c in facts.member_calls] == [
        ("hook", "(zone, first)", 12)
    ]
    assert dict(facts.pointers) == {"page": "page"}  # locals: parameters have types of their own


def test_registrations_name_ops_members_and_attribute_macros():
    assert [(r.member, r.function, r.line) for r in registrations(VALUES)] == [
        ("write", "walk_write", 18),
        ("get", "NULL", 20),
        ("set", "inject", 20),
        ("show", "soft_offline_page_show", 21),
        ("store", "soft_offline_page_store", 21),
    ]
    assert [r.member for r in registrations(VALUES, b"inject")] == ["set"]
    assert registrations(VALUES, b"absent") == []


def test_a_chained_assignment_gives_each_the_last_value_and_a_clamp_is_marked():
    src = (
        b"int f(void)\n{\n\tent->start = ent->nid = NUMA_NO_NODE;\n"
        b"\tif (start < max_low)\n\t\tstart = max_low;\n\tif (a < b) c = b;\n}\n"
    )
    ((start, close),) = column0_bodies(src)
    got = [(a.lhs, a.op, a.rhs) for a in body_facts(src, start, close + 1, 2).assignments]
    assert got == [
        ("ent->start", "=", "NUMA_NO_NODE"),
        ("ent->nid", "=", "NUMA_NO_NODE"),
        ("start", "clamp", "max_low"),  # only narrows start, as max() would
        ("c", "=", "b"),
    ]


def many_bodies(count: int) -> bytes:
    """count small functions no rule needs, then one walk: most bodies are left out."""
    plain = "".join(
        f"static int g{i}(int n)\n{{\n\tint x = lock(n);\n#ifdef CONFIG_X{i}\n"
        f"\tx += helper{i}(n);\n#endif\n\treturn x;\n}}\n\n"
        for i in range(count)
    )
    walk = "static void w(unsigned long n)\n{\n\tfor (; n; n--)\n\t\tpfn_to_page(n);\n}\n"
    return (plain + walk).encode()


def test_many_left_out_bodies_give_the_facts_of_few(monkeypatch):
    """Past _MOST_RANGES left-out bodies the parser sees them blanked, not cut out by
    included ranges: the same tree, and the same facts (calls and #ifdefs read from
    the bytes as they are)."""
    import kscan.parse.parser as parser

    src = many_bodies(40)
    keep = kept(src)
    assert keep.count(False) == 40
    monkeypatch.setattr(parser, "_MOST_RANGES", 1000)
    ranged = parse(new_parser(), src, keep=keep)
    monkeypatch.setattr(parser, "_MOST_RANGES", 10)
    blanked = parse(new_parser(), src, keep=keep)
    assert str(blanked.tree.root_node) == str(ranged.tree.root_node)
    assert extract("mm/x.c", blanked) == extract("mm/x.c", ranged)


def test_many_left_out_bodies_parse_in_linear_time():
    """tree-sitter looks its included ranges up from the first: 40,000 of them took
    5 s to parse where blanking takes well under one (CPU seconds, a wide margin)."""
    src = many_bodies(40_000)
    keep = kept(src)
    started = time.process_time()
    parse(new_parser(), src, keep=keep)
    assert time.process_time() - started < 2.5
