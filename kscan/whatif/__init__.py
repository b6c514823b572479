"""What breaks if the largest buddy block grows past a memory section: `kscan what-if`.

mmzone.h forbids a MAX_ORDER block larger than a memory section, and the rest of the
kernel relies on it in ways no single rule names.  Each module here is one class of
such sites, documented like a rule (what, why, example, fix: `kscan explain WIn`):

| id | class | module |
| --- | --- | --- |
| WI1 | buddy merging and splitting arithmetic | buddy.py |
| WI2 | struct page arithmetic across a block | page_walks.py |
| WI3 | work done in MAX_ORDER chunks, one section per chunk | chunks.py |
| WI4 | pageblock vs section | pageblock.py |
| WI5 | per-order tables and loops: their cost | per_order.py |
| WI6 | MAX_ORDER as a size limit | size_limits.py |
| WI7 | guards tying the largest order to the section or page size | guards.py |

target.py holds the question (an architecture with largest order N), orders.py follows
orders that can be N down the call graph, run.py is the pipeline and
kscan/report/whatif.py the reports.  The classes WI1-WI4 list nothing while N fits in
a section.
"""
