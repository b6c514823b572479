"""C snippets more than one test file scans."""

# One KS001 finding on line 5 (a caller-supplied range walked with no pfn_valid()).
WALK = (
    "void mark(unsigned long start, unsigned long end)\n"
    "{\n"
    "\tunsigned long pfn;\n"
    "\tfor (pfn = start; pfn < end; pfn++)\n"
    "\t\tSetPageReserved(pfn_to_page(pfn));\n"
    "}\n"
)
WALK_LINE = 5


def many_walks(count: int) -> str:
    """count small functions with a PFN walk each: one KS001 finding apiece, seconds
    to analyse at 10,000 (the shape of issue #18's 5 MB and 20 MB files)."""
    return "".join(
        f"static void f{i}(unsigned long n)\n{{\n\tunsigned long pfn;\n\n"
        f"\tfor (pfn = 0; pfn < n; pfn++)\n\t\tpfn_to_page(pfn);\n}}\n\n"
        for i in range(count)
    )
