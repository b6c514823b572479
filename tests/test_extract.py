"""The fact layer on the shapes kernel C takes (see shared/reference/treesitter-on-kernel.md)."""

import pickle

from kscan.analysis.nesting import part_before
from kscan.facts.extract import extract
from kscan.facts.records import Call, Function, Span
from kscan.parse.parser import blank_attributes, new_parser, parse


def facts_of(src: str):
    return extract("t.c", parse(new_parser(), src.encode()))


def test_attribute_macros_are_blanked_in_place():
    src = b"static int __init __must_check f(void) __acquires(lock)\n{ return 0; }\n"
    out = blank_attributes(src)
    assert len(out) == len(src) and out.count(b"\n") == src.count(b"\n")
    assert b"__init" not in out and b"__acquires" not in out
    assert blank_attributes(b"#define __init __section(x)\n").startswith(b"#define __init")
    assert blank_attributes(b"int __initdata2;") == b"int __initdata2;"  # a longer name
    plain = b"static noinline void notrace f(void);\nint xnotrace, __noinline_x;\n"
    assert blank_attributes(plain) == (
        b"static          void         f(void);\nint xnotrace, __noinline_x;\n"
    )
    assert blank_attributes(plain, [(0, 30)])[:30] == plain[:30]  # a skipped range stays


def test_facts_pickle_back_equal_with_their_record_types():
    """Functions and calls cross the process boundary as plain tuples (FileFacts.__reduce__)."""
    facts = facts_of(
        "static void walk(unsigned long s, unsigned long e)\n{\n\tunsigned long pfn;\n\n"
        "\tfor (pfn = s; pfn < e; pfn++)\n\t\tif (pfn_valid(pfn))\n"
        "\t\t\ttouch(pfn_to_page(pfn));\n}\n#define ALIAS(x) walk(x, x + 1)\n"
    )
    back = pickle.loads(pickle.dumps(facts, pickle.HIGHEST_PROTOCOL))
    assert back == facts
    fn = back.functions[0]
    assert (type(fn), type(fn.span), type(fn.calls[0])) == (Function, Span, Call)
    assert [c.name for c in fn.calls] == ["pfn_valid", "touch", "pfn_to_page"]
    assert back.loops[0].calls[0].call.name == "pfn_valid"


def test_attributed_functions_are_functions():
    facts = facts_of(
        "static void __meminit __ref walk(struct zone *zone, unsigned long pfn)\n{\n\tg(pfn);\n}\n"
    )
    [fn] = facts.functions
    assert (fn.name, fn.static, fn.span.start_line) == ("walk", True, 1)
    assert fn.params == (("zone", "struct zone *"), ("pfn", "unsigned long"))
    assert [c.name for c in fn.calls] == ["g"]


def test_the_iterator_macro_shapes_become_macro_loops():
    facts = facts_of(
        "void f(void)\n{\n"
        "\tlist_for_each_entry(p, &head, lru) {\n\t\ta(p);\n\t}\n"
        "\tlist_for_each_entry(p, &head, lru)\n\t\tb(p);\n"
        "\tfor_each_node_state(nid, N_MEMORY)\n\t\tx += c(nid);\n"
        "\tfor_each_zone(zone) {\n\t\td(zone);\n\t}\n"
        "}\n"
    )
    loops = [(lp.macro, lp.span.start_line, lp.body.start_line) for lp in facts.loops]
    assert loops == [
        ("list_for_each_entry", 3, 3),
        ("list_for_each_entry", 6, 7),
        ("for_each_node_state", 8, 9),
        ("for_each_zone", 10, 10),
    ]
    # the fake function definition for_each_zone() makes is not a function
    assert [fn.name for fn in facts.functions] == ["f"]


def test_guards_exits_steps_in_a_loop():
    facts = facts_of(
        "void f(unsigned long s, unsigned long e)\n{\n\tunsigned long pfn;\n"
        "\tfor (pfn = s; pfn < e; pfn++) {\n"
        "\t\tif (!pfn_valid(pfn))\n\t\t\tcontinue;\n"
        "\t\tif (pfn_valid(pfn + 1) && PageBuddy(pfn_to_page(pfn + 1)))\n\t\t\tbreak;\n"
        "\t}\n}\n"
    )
    [loop] = facts.loops
    assert loop.induction_vars == ("pfn",)
    assert [(e.kind, e.cond_calls) for e in loop.exits] == [
        ("continue", ("pfn_valid",)),
        ("break", ("pfn_valid", "PageBuddy", "pfn_to_page")),
    ]
    access = next(lc for lc in loop.calls if lc.call.name == "pfn_to_page")
    assert access.call.args == ("pfn + 1",)
    # it runs under the conjuncts left of it (&& short-circuits): a guard's condition
    guard = facts.guards[access.guard]
    start, end = part_before(guard, access.call.byte)
    calls = facts.functions[0].calls
    assert [c.name for c in calls if start <= c.byte < end] == ["pfn_valid", "PageBuddy"]
    assert guard.parent == -1


def test_runaway_error_region_is_reparsed_in_chunks():
    # each #ifdef branch opens its own `if (...) {`: the parser's recovery swallows the
    # rest of the file into one ERROR node
    head = "int f(int x)\n{\n#ifdef A\n\tif (x) {\n#else\n\tif (!x) {\n#endif\n"
    head += "\t\tx++;\n\t}\n\treturn x;\n}\n\n"
    body = "".join(
        f"static int g{i}(int x)\n{{\n\tint y = x * {i};\n\n\treturn y + {i};\n}}\n\n"
        for i in range(40)
    )
    parsed = parse(new_parser(), (head + body).encode())
    plain = new_parser().parse((head + body).encode()).root_node
    assert [n.type for n in plain.children] == ["ERROR"]  # nothing usable without repair
    assert parsed.lost  # the repair kicked in
    names = {fn.name for fn in extract("t.c", parsed).functions}
    assert names == {f"g{i}" for i in range(40)}


def test_odd_identifiers_in_calls():
    facts = facts_of("void f(void) { $foo(1); caf\u00e9(2); }\n")
    assert [c.name for c in facts.functions[0].calls] == ["$foo", "caf\u00e9"]


def test_preprocessor_branches():
    src = "int a;\n#ifdef X\nint b;\n#if Y\nint c;\n#endif\n#else\nint d;\n#endif\nint e;\n"
    facts = facts_of(src)
    at = {name: src.index(f"int {name}") for name in "abcde"}
    assert facts.exclusive(at["b"], at["d"]) and facts.exclusive(at["c"], at["d"])
    assert not facts.exclusive(at["b"], at["c"])  # one branch, nested #if
    assert not facts.exclusive(at["a"], at["d"]) and not facts.exclusive(at["d"], at["e"])


WATCHED = """\
#ifdef CONFIG_SPARSEMEM
#if (MAX_PAGE_ORDER + PAGE_SHIFT) > SECTION_SIZE_BITS
#error too big
#endif
#else
#define SECTION_BLOCKFLAGS_BITS (1UL << (PFN_SECTION_SHIFT - pageblock_order))
#endif
static void split(struct page *page, unsigned long pfn, int high)
{
	unsigned long size = 1 << high;
	struct page *tail = page + (pfn & 7);

	while (high--) {
		size >>= 1;
		add(&page[size], page + 1, tail);
		page++;
	}
	put(pfn_to_page(pfn + pageblock_nr_pages));
}
"""


def test_a_watch_records_offsets_directives_and_more_names():
    from kscan.facts.extract import Watch

    plain = facts_of(WATCHED)
    watch = Watch(("pageblock_nr_pages", "pageblock_order"))
    facts = extract("t.c", parse(new_parser(), WATCHED.encode()), watch)
    assert (plain.offsets, plain.errors, plain.conditions) == ((), (), ())
    assert [(o.base, o.op, o.offset, o.line) for o in facts.offsets] == [
        ("page", "+", "(pfn & 7)", 11),
        ("page", "[]", "size", 15),
        ("page", "+", "1", 15),
        ("page", "++", "1", 16),
    ]
    (error,) = facts.errors
    assert error.line == 3 and error.message == "too big"
    assert error.cond == (
        "(defined(CONFIG_SPARSEMEM)) && ((MAX_PAGE_ORDER + PAGE_SHIFT) > SECTION_SIZE_BITS)"
    )
    assert (5, 7, "!(defined(CONFIG_SPARSEMEM))") in facts.conditions
    assert [d.name for d in facts.defines] == ["SECTION_BLOCKFLAGS_BITS"]
    assert [u.name for u in facts.name_uses] == ["MAX_PAGE_ORDER", "pageblock_nr_pages"]
    assert facts.functions[0].pointer_types == (("page", "page*"), ("tail", "page*"))
    back = pickle.loads(pickle.dumps(facts, pickle.HIGHEST_PROTOCOL))
    assert back == facts
