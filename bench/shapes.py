"""C sources that grow along one dimension: file size, functions, loops, nesting, calls.

Each Dimension makes the source for a size n; bench/growth.py doubles n and reports
how the work grows, and bench/pathological.py writes the inputs issue #18 reported.
Every shape is kernel-like where it can be: each level of a nest walks PFNs, checks
some, calls helpers and branches, so that every stage has work at every level.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "demo" / "mm"
WHAT_IF = DEMO.parent.parent / "whatif" / "tree-6.12" / "mm"


@dataclass(frozen=True)
class Dimension:
    name: str
    what: str  # what n counts
    make: Callable[[int], str]
    start: int  # the smallest n the bench runs
    files: bool = False  # n files of make(1), not one file of make(n)


def function(body: str, name: str = "walk", static: str = "") -> str:
    params = "struct zone *zone, unsigned long start, unsigned long end"
    return f"{static}void {name}({params})\n{{\n{body}}}\n"


def _level(i: int) -> str:
    """One level of a loop nest: a walk over its own PFN with a check, an access, a call."""
    return (
        f"for (pfn{i} = start; pfn{i} < end; pfn{i}++) {{\n"
        f"if (!pfn_valid(pfn{i}))\ncontinue;\n"
        f"page = pfn_to_page(pfn{i});\n"
        f"if (PageReserved(page))\nnr++;\n"
    )


def loop_nest(n: int) -> str:
    return function("".join(map(_level, range(n))) + "}\n" * n)


def loop_nest_one_variable(n: int) -> str:
    """The same PFN in every loop: each access belongs to the innermost loop."""
    level = "for (pfn = start; pfn < end; pfn++) {\nmark(pfn_to_page(pfn));\n"
    return function(level * n + "}\n" * n)


def unbraced_loop_nest(n: int) -> str:
    return function("for (pfn = start; pfn < end; pfn++)\n" * n + "mark(pfn_to_page(pfn));\n")


def loop_nest_outer_access(n: int) -> str:
    """Every level reaches back to the outermost loop's PFN (pfn0 + i): the outer loop
    owns every access, through every level between."""
    levels = "".join(
        f"for (i{i} = 0; i{i} < 8; i{i}++) {{\nif (PageLRU(page))\n"
        f"mark(pfn_to_page(pfn0 + i{i}));\n"
        for i in range(1, n)
    )
    return function("for (pfn0 = start; pfn0 < end; pfn0++) {\n" + levels + "}\n" * n)


def if_nest(n: int) -> str:
    level = "if (PageLRU(page)) {\nmark(pfn_to_page(pfn));\n"
    return function(
        "for (pfn = start; pfn < end; pfn++) {\npage = pfn_to_online_page(pfn);\n"
        + level * n
        + "}\n" * n
        + "}\n"
    )


def held_check_nest(n: int) -> str:
    """Ifs nested under one that tests a check's result kept in a variable: every access
    is checked through `page`, from n levels up."""
    level = "if (PageLRU(page + 1)) {\nmark(pfn_to_page(pfn));\n"
    return function(
        "for (pfn = start; pfn < end; pfn++) {\npage = pfn_to_online_page(pfn);\nif (page) {\n"
        + level * n
        + "}\n" * n
        + "}\n}\n"
    )


def else_if_chain(n: int) -> str:
    arms = "".join(f"if (pfn == {i})\nmark(pfn_to_page(pfn));\nelse " for i in range(n))
    return function("for (pfn = start; pfn < end; pfn++) {\n" + arms + "nr++;\n}\n")


def ternary_chain(n: int) -> str:
    arms = "".join(f"pfn == {i} ? pfn_to_page(pfn) : " for i in range(n))
    return function("for (pfn = start; pfn < end; pfn++)\nmark(" + arms + "NULL);\n")


def ternary_in_condition(n: int) -> str:
    """Conditions inside conditions: `((c ? a : b) ? ...)`."""
    cond = "pfn_valid(pfn)"
    for i in range(n):
        cond = f"({cond} ? PageLRU(pfn_to_page(pfn)) : {i})"
    return function(f"for (pfn = start; pfn < end; pfn++)\nif ({cond})\nnr++;\n")


def long_condition(n: int) -> str:
    conjuncts = " && ".join(f"PageLRU(pfn_to_page(pfn + {i}))" for i in range(n))
    return function(
        f"for (pfn = start; pfn < end; pfn++)\nif (pfn_valid(pfn) && {conjuncts})\nnr++;\n"
    )


def comma_list(n: int) -> str:
    """A comma expression of n parts: a tree n deep on its left."""
    parts = ", ".join(f"nr{i}++" for i in range(n))
    return function(f"for (pfn = start; pfn < end; {parts}, pfn++)\nmark(pfn_to_page(pfn));\n")


def sum_length(n: int) -> str:
    """A sum of n terms: a tree n deep on its left."""
    terms = " + ".join(f"page_count(pfn_to_page(pfn + {i}))" for i in range(n))
    return function(f"for (pfn = start; pfn < end; pfn++)\nnr = {terms};\n")


def macro_loop_nest(n: int) -> str:
    level = "for_each_mem_pfn_range(i, nid, &s, &e, NULL) {\nmark(pfn_to_page(s));\n"
    inner = "for (pfn = s; pfn < e; pfn++)\nmark(pfn_to_page(pfn));\n"
    return function(level * n + inner + "}\n" * n)


def list_macro_nest(n: int) -> str:
    level = "list_for_each_entry(page, &zone->list, lru) {\nmark(pfn_to_page(pfn));\n"
    return function(level * n + "}\n" * n)


def zone_macro_nest(n: int) -> str:
    """One-argument iterator macros with braces: fake nested function definitions."""
    level = "for_each_zone(zone) {\npfn = zone->zone_start_pfn;\n"
    return function(level * n + "mark(pfn_to_page(pfn));\n" + "}\n" * n)


def while_nest(n: int) -> str:
    level = "while (pfn < end) {\npfn++;\nmark(pfn_to_page(pfn));\n"
    return function(level * n + "}\n" * n)


def do_nest(n: int) -> str:
    level = "do {\nmark(pfn_to_page(pfn));\n"
    return function(level * n + "} while (++pfn < end);\n" * n)


def brace_nest(n: int) -> str:
    return function(
        "for (pfn = start; pfn < end; pfn++) " + "{\n" * n + "mark(pfn_to_page(pfn));\n" + "}\n" * n
    )


def paren_nest(n: int) -> str:
    return function(
        "for (pfn = start; pfn < end; pfn++)\nnr += "
        + "(" * n
        + "page_count(pfn_to_page(pfn))"
        + ")" * n
        + ";\n"
    )


def call_nest(n: int) -> str:
    return function(
        "for (pfn = start; pfn < end; pfn++)\nnr += "
        + "f(" * n
        + "pfn_to_page(pfn)"
        + ")" * n
        + ";\n"
    )


def switch_nest(n: int) -> str:
    level = "switch (pfn & 3) {\ncase 1:\nmark(pfn_to_page(pfn));\n"
    return function("for (pfn = start; pfn < end; pfn++) {\n" + level * n + "}\n" * n + "}\n")


def ifdef_nest(n: int) -> str:
    level = "#ifdef CONFIG_X\nmark(pfn_to_page(pfn));\n"
    return function("for (pfn = start; pfn < end; pfn++) {\n" + level * n + "#endif\n" * n + "}\n")


def initializer_nest(n: int) -> str:
    return "static int table[] = " + "{" * n + "1" + "}" * n + ";\n" + unbraced_loop_nest(1)


def statements_in_loop(n: int) -> str:
    body = "".join(
        f"if (!pfn_valid(pfn + {i}))\ncontinue;\nvalid = pfn_to_online_page(pfn);\n"
        f"mark(pfn_to_page(pfn + {i}));\nnr += helper_{i}(zone, pfn);\n"
        for i in range(n)
    )
    return function("for (pfn = start; pfn < end; pfn++) {\n" + body + "}\n")


def loops_in_function(n: int) -> str:
    loop = (
        "for (pfn = start; pfn < end; pfn++) {\nif (!pfn_valid(pfn))\ncontinue;\n"
        "mark(pfn_to_page(pfn));\n}\n"
    )
    return function(loop * n)


def functions(n: int) -> str:
    """The issue's shape: many small functions, each with a PFN loop."""
    return "".join(
        f"static void f{i}(unsigned long n)\n{{\n\tunsigned long pfn;\n\n"
        f"\tfor (pfn = 0; pfn < n; pfn++)\n\t\tpfn_to_page(pfn);\n}}\n\n"
        for i in range(n)
    )


def checked_functions(n: int) -> str:
    """The issue's shape with a checked walk in each function: no finding, every loop's
    facts."""
    return "".join(
        f"static void f{i}(unsigned long n)\n{{\n\tunsigned long pfn;\n\n"
        f"\tfor (pfn = 0; pfn < n; pfn++)\n\t\tif (pfn_valid(pfn)) mark(pfn_to_page(pfn));\n}}\n\n"
        for i in range(n)
    )


def plain_functions(n: int) -> str:
    """The issue's words taken literally: a loop in each function, over no PFN."""
    return "".join(
        f"static void f{i}(unsigned long n)\n{{\n\tunsigned long i, x = 0;\n\n"
        f"\tfor (i = 0; i < n; i++)\n\t\tx += i;\n}}\n\n"
        for i in range(n)
    )


def skipped_bodies(n: int) -> str:
    """One PFN walk among many small functions no rule needs: the file is parsed, and
    the bodies that name nothing a rule reads are left out of the parse."""
    plain = "".join(
        f"static int g{i}(int n)\n{{\n\tint i, x = 0;\n\n\tfor (i = 0; i < n; i++)\n"
        f"\t\tx += i;\n\treturn x;\n}}\n\n"
        for i in range(n)
    )
    return plain + functions(1)


def same_named_functions(n: int) -> str:
    """#ifdef alternatives of one static function, n times over."""
    walker = function(
        "for (pfn = start; pfn < end; pfn++)\nmark(pfn_to_page(pfn));\n", "walk", "static "
    )
    copies = "".join(f"#ifdef CONFIG_{i}\n{walker}#endif\n" for i in range(n))
    return copies + "void caller(void)\n{\n\twalk(NULL, 0, 512);\n}\n"


def static_callers(n: int) -> str:
    """One static walker, n callers: KS002 asks every caller whether it validates."""
    walker = function(
        "for (pfn = start; pfn < start + pageblock_nr_pages; pfn++)\nmark(pfn_to_page(pfn));\n",
        "walk",
        "static ",
    )
    callers = "".join(
        f"static void caller{i}(struct zone *zone, unsigned long pfn)\n{{\n"
        f"\tif (pfn_valid(pfn))\n\t\twalk(zone, pfn, pfn + 512);\n}}\n"
        for i in range(n)
    )
    return walker + callers


def call_chain(n: int) -> str:
    """A chain of static functions, each calling the next; the last one walks."""
    chain = "".join(
        f"static void step{i}(struct zone *zone, unsigned long pfn)\n"
        f"{{\n\tstep{i + 1}(zone, pfn);\n}}\n"
        for i in range(n)
    )
    last = function(
        "for (pfn = start; pfn < end; pfn++)\nmark(pfn_to_page(pfn));\n", f"step{n}", "static "
    )
    return last + chain


def calls_in_function(n: int) -> str:
    calls = "".join(f"\thelper_{i % 50}(zone, start + {i});\n" for i in range(n))
    return function(calls + "for (pfn = start; pfn < end; pfn++)\nmark(pfn_to_page(pfn));\n")


def defines(n: int) -> str:
    macros = "".join(f"#define HELPER_{i}(x) helper_{i}((x), MAX_ORDER)\n" for i in range(n))
    return macros + unbraced_loop_nest(1)


def order_uses(n: int) -> str:
    body = "".join(
        f"for (order = 0; order < MAX_ORDER; order++)\nnr += area_{i}[order];\n" for i in range(n)
    )
    return function(body)


def order_uses_nested(n: int) -> str:
    level = (
        "for (order = 0; order < MAX_PAGE_ORDER; order++) {\nnr += PAGE_SIZE << MAX_PAGE_ORDER;\n"
    )
    return function(level * n + "}\n" * n)


def order_arguments(n: int) -> str:
    """NR_PAGE_ORDERS handed to a function's `order` parameter, n times (KS004)."""
    callee = "static void take(struct zone *zone, unsigned int order)\n{\n\tuse(zone, order);\n}\n"
    callers = "".join(
        f"void give{i}(struct zone *zone)\n{{\n\ttake(zone, NR_PAGE_ORDERS);\n}}\n"
        for i in range(n)
    )
    return callee + callers


def contig_callers(n: int) -> str:
    """Callers of alloc_contig_range() that align the range by MAX_ORDER (KS007)."""
    return "".join(
        f"static int grab{i}(unsigned long pfn)\n{{\n"
        f"\tunsigned long end = ALIGN(pfn + 1, MAX_ORDER_NR_PAGES);\n\n"
        f"\treturn alloc_contig_range(pfn, end, MIGRATE_CMA, GFP_KERNEL);\n}}\n"
        for i in range(n)
    )


def ifdef_blocks(n: int) -> str:
    """One contig-range caller whose MAX_ORDER uses and calls sit in n #ifdef blocks."""
    blocks = "".join(
        f"#ifdef CONFIG_{i}\n\tend = ALIGN(pfn + {i}, MAX_ORDER_NR_PAGES);\n#else\n"
        f"\tret = alloc_contig_range(pfn, end, MIGRATE_CMA, GFP_KERNEL);\n#endif\n"
        for i in range(n)
    )
    return (
        f"static int grab(unsigned long pfn)\n{{\n\tunsigned long end;\n{blocks}\treturn ret;\n}}\n"
    )


def runaway(n: int) -> str:
    """A recovery that swallows the rest of the file: n functions re-parsed in chunks."""
    head = "int f(int x)\n{\n#ifdef A\n\tif (x) {\n#else\n\tif (!x) {\n#endif\n"
    head += "\t\tx++;\n\t}\n\treturn x;\n}\n\n"
    return head + functions(n)


def validity_helpers(n: int) -> str:
    """A chain of helpers, each returning the next one's check (helpers of helpers)."""
    first = "static bool ok0(unsigned long pfn)\n{\n\treturn pfn_valid(pfn);\n}\n"
    chain = "".join(
        f"static bool ok{i}(unsigned long pfn)\n{{\n\treturn ok{i - 1}(pfn);\n}}\n"
        for i in range(1, n)
    )
    walk = f"for (pfn = start; pfn < end; pfn++)\nif (ok{n - 1}(pfn))\nmark(pfn_to_page(pfn));\n"
    return first + chain + function(walk)


_DEMO_NAME = re.compile(r"^\w[^\n(;]*?\b(\w+)\(", re.M)


def demo_code(n: int) -> str:
    """The demo tree's three files, n times over, each copy's functions renamed."""
    return _copies(sorted(DEMO.glob("*.c")), n)


def what_if_code(n: int) -> str:
    """The what-if fixture's mm/ (a site of every what-if class), n times over."""
    return _copies(sorted(WHAT_IF.glob("*.c")), n)


def _copies(files: list[Path], n: int) -> str:
    text = "".join(p.read_text() for p in files)
    names = sorted(set(_DEMO_NAME.findall(text)), key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    return "".join(pattern.sub(rf"\1_{i}", text) for i in range(n))


def what_if_statements(n: int) -> str:
    """One function holding n times over what the what-if classes look at: a skip of a
    MAX_ORDER block, a struct page walk over a block, a per-order loop and table, a
    limit on the order."""
    level = (
        "while (pfn < end_pfn) {\npage = pfn_to_online_page(pfn);\nif (!page) {\n"
        "pfn = ALIGN(pfn + 1, MAX_ORDER_NR_PAGES);\ncontinue;\n}\npfn++;\n}\n"
        "for (i = 0; i < (1 << order); i++)\nclear_flags(page + i);\n"
        "for (o = 0; o < NR_PAGE_ORDERS; o++)\nnr[o] = zone->free_area[o].nr_free;\n"
        "if (order > MAX_PAGE_ORDER)\nreturn;\n"
    )
    return (
        "void walk(struct zone *zone, struct page *page, unsigned long pfn,\n"
        "\t  unsigned long end_pfn, unsigned int order)\n{\n"
        "unsigned long nr[NR_PAGE_ORDERS];\nunsigned int o;\nint i;\n\n" + level * n + "}\n"
    )


DIMENSIONS = [
    Dimension("file-size", "copies of the demo tree's code (10 kB each)", demo_code, 8),
    Dimension("files", "files holding the demo tree's code", demo_code, 16, files=True),
    Dimension("functions", "small functions with a PFN loop", functions, 1000),
    Dimension("skipped-bodies", "functions left out of the parse", skipped_bodies, 1000),
    Dimension(
        "same-named-functions",
        "#ifdef alternatives of one static walker",
        same_named_functions,
        250,
    ),
    Dimension("loops-in-function", "sequential PFN loops in one function", loops_in_function, 250),
    Dimension(
        "statements-in-loop", "checks, accesses and calls in one loop", statements_in_loop, 250
    ),
    Dimension("calls-in-function", "calls in one function", calls_in_function, 2000),
    Dimension("static-callers", "callers of one static walker", static_callers, 250),
    Dimension("call-chain", "static functions calling the next", call_chain, 250),
    Dimension(
        "loop-depth", "nested PFN loops, a check and an access at each level", loop_nest, 125
    ),
    Dimension("loop-depth-one-pfn", "nested loops over the same PFN", loop_nest_one_variable, 125),
    Dimension("loop-depth-unbraced", "nested loops without braces", unbraced_loop_nest, 125),
    Dimension(
        "loop-depth-outer-pfn",
        "nested loops reaching the outermost PFN",
        loop_nest_outer_access,
        125,
    ),
    Dimension("if-depth", "nested ifs in a PFN loop", if_nest, 125),
    Dimension("held-check-depth", "ifs under a test of a check's result", held_check_nest, 125),
    Dimension("else-if-chain", "else-if arms in a PFN loop", else_if_chain, 125),
    Dimension("ternary-chain", "?: arms in a PFN loop", ternary_chain, 125),
    Dimension("ternary-in-condition", "?: nested in conditions", ternary_in_condition, 125),
    Dimension("condition-length", "&& conjuncts with an access each", long_condition, 125),
    Dimension("comma-length", "parts of a comma expression", comma_list, 250),
    Dimension("sum-length", "terms of a sum with an access each", sum_length, 250),
    Dimension("macro-loop-depth", "nested for_each_mem_pfn_range()", macro_loop_nest, 125),
    Dimension("list-macro-depth", "nested list_for_each_entry()", list_macro_nest, 125),
    Dimension("zone-macro-depth", "nested for_each_zone() { }", zone_macro_nest, 125),
    Dimension("while-depth", "nested while loops", while_nest, 125),
    Dimension("do-depth", "nested do-while loops", do_nest, 125),
    Dimension("brace-depth", "nested blocks in a loop", brace_nest, 125),
    Dimension("paren-depth", "nested parentheses around an access", paren_nest, 250),
    Dimension("call-depth", "nested calls around an access", call_nest, 250),
    Dimension("switch-depth", "nested switches in a loop", switch_nest, 125),
    Dimension("ifdef-depth", "nested #ifdef in a loop", ifdef_nest, 125),
    Dimension("initializer-depth", "nested braces in an initialiser", initializer_nest, 250),
    Dimension("runaway", "functions swallowed by a runaway recovery", runaway, 500),
    Dimension("validity-helpers", "helpers calling the next helper's check", validity_helpers, 250),
    Dimension("defines", "function-like macros naming MAX_ORDER", defines, 1000),
    Dimension(
        "order-arguments", "NR_PAGE_ORDERS passed as an order argument", order_arguments, 250
    ),
    Dimension(
        "contig-callers", "alloc_contig_range() callers aligned by MAX_ORDER", contig_callers, 250
    ),
    Dimension("ifdef-blocks", "#ifdef blocks in one contig-range caller", ifdef_blocks, 125),
    Dimension("order-uses", "MAX_ORDER loops in one function", order_uses, 250),
    Dimension("order-uses-nested", "nested MAX_ORDER loops", order_uses_nested, 125),
    Dimension("what-if-code", "copies of the what-if fixture's mm/ (5 kB each)", what_if_code, 8),
    Dimension(
        "what-if-statements",
        "block skips, walks and order loops in one function",
        what_if_statements,
        125,
    ),
]
