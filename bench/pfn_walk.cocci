// The spatch baseline for bench.py: one rule, roughly KS001's core pattern (a PFN
// loop stepping by one that calls pfn_to_page() on the loop variable).
@r@
identifier pfn;
expression E1, E2;
position p;
@@
(
for (pfn = E1; pfn < E2; pfn++) { <+... pfn_to_page@p(pfn) ...+> }
|
for (; pfn < E2; pfn++) { <+... pfn_to_page@p(pfn) ...+> }
)

@script:python@
p << r.p;
@@
print("%s:%s" % (p[0].file, p[0].line))
