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
