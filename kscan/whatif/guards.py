"""Guards that tie the largest order to the section size or the page size.

What: the places that stop a build (or a boot) whose largest order does not fit what
they assume: an `#error` under an `#if` naming MAX_ORDER / MAX_PAGE_ORDER, a
`BUILD_BUG_ON()` / `MAYBE_BUILD_BUG_ON()` / `static_assert()` on them, and the
architecture's Kconfig: the range of ARCH_FORCE_MAX_ORDER, or no entry at all, when
mmzone.h's `#define MAX_PAGE_ORDER 10` is the only value the architecture can have.
Each guard's condition is evaluated with the chosen architecture's page size, section
size and HUGETLB_PAGE_ORDER for every largest order from 0 to 63, and the site says
at which orders it fires.  Guards that hold at order N are counted, not listed.

Why: the guards are the kernel's own statement of the invariant.  mmzone.h's
`#error Allocator MAX_PAGE_ORDER exceeds SECTION_SIZE` is what has kept every buddy
block inside one memory section since SPARSEMEM; the other classes list the code that
relies on it.  Removing a guard is the last step of a migration, not the first.

Example (6.12, x86_64, N = 18):
    #if (MAX_PAGE_ORDER + PAGE_SHIFT) > SECTION_SIZE_BITS      /* fires for N >= 16 */
    #error Allocator MAX_PAGE_ORDER exceeds SECTION_SIZE

Fix: make the code the other classes list correct for blocks that span sections, then
relax the guard to what is still true (for example, that a pageblock fits in a
section) and give the architecture an ARCH_FORCE_MAX_ORDER range that allows N.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kscan.analysis.project import Project
from kscan.discover.prefilter import needs
from kscan.facts.records import FileFacts
from kscan.findings import Finding, Level
from kscan.model.archtree import config_options, config_symbols, max_order_entry
from kscan.results import GuardCheck
from kscan.vocab import ORDER_NAMES, identifiers
from kscan.whatif.analysis import BUILD, Analysis
from kscan.whatif.target import describe_orders, without_comments

# Names whose appearance in a guard makes it one about the largest order.
_ORDER_WORDS = frozenset(ORDER_NAMES) | {"MAX_ORDER_NR_PAGES", "CONFIG_ARCH_FORCE_MAX_ORDER"}
_ASSERTS = {"BUILD_BUG_ON": True, "MAYBE_BUILD_BUG_ON": True, "BUILD_BUG_ON_MSG": True}
_STATIC_ASSERTS = ("static_assert", "_Static_assert")


class Guards(Analysis):
    id = "WI7"
    name = "max-order-guards"
    severity = Level.HIGH
    confidence = Level.HIGH
    section_class = False
    needs = (needs(["#error", "BUILD_BUG_ON", "static_assert"], ORDER_NAMES),)
    fix = (
        "fix what the other classes list first; then relax the guard to what stays true "
        "and allow N in the architecture's ARCH_FORCE_MAX_ORDER range"
    )

    def sites(self, project: Project) -> Iterator[Finding]:
        defined = config_symbols(self.target.today.name)[0] | config_options()
        for facts in self.files(project):
            for error in facts.errors:
                if identifiers(error.cond) & _ORDER_WORDS:
                    own = error.cond.rsplit(" && ", 1)[-1]  # the innermost #if, for people
                    text = f"#if {own.removeprefix('(').removesuffix(')')} #error {error.message}"
                    yield from self._judged(facts, error.line, None, text, error.cond, defined, 1)
            for fn in facts.functions:
                for call in fn.calls:
                    if (call.name in _ASSERTS or call.name in _STATIC_ASSERTS) and call.args:
                        cond = call.args[0]
                        if not identifiers(cond) & _ORDER_WORDS:
                            continue
                        fires_when = call.name in _ASSERTS
                        text = f"{call.name}({cond})"
                        cond = cond if fires_when else f"!({cond})"
                        yield from self._judged(facts, call.line, fn.name, text, cond, defined, 0)
        if project.tree.root is not None:
            yield from self._kconfig(project, project.tree.root)

    def _judged(
        self,
        facts: FileFacts,
        line: int,
        function: str | None,
        text: str,
        cond: str,
        defined: frozenset[str],
        claim_lines: int,
    ) -> Iterator[Finding]:
        self._claim_uses(facts, line - claim_lines, line)
        orders = self.target.firing_orders(cond, defined)
        n = self.target.order
        if orders is None:
            self.context.guards.append(GuardCheck(facts.path, line, text, "cannot evaluate", None))
            yield self.site(
                facts,
                line,
                1,
                function,
                f"`{text}` ties the largest order to something kscan cannot evaluate; "
                f"check it by hand for N = {n}",
                BUILD,
                severity=Level.LOW,
            )
            return
        fires = n in orders
        where = describe_orders(orders)
        self.context.guards.append(GuardCheck(facts.path, line, text, where, fires))
        if fires:
            yield self.site(
                facts,
                line,
                1,
                function,
                f"`{text}` fires at N = {n} ({self.target.today.title}: fires for {where})",
                BUILD,
            )

    def _claim_uses(self, facts: FileFacts, first: int, last: int) -> None:
        """The order names in a guard are the guard's, not a size or a table."""
        for use in facts.uses_on_lines(first, last):
            self.context.claim(facts.path, use.byte)

    def _kconfig(self, project: Project, root: Path) -> Iterator[Finding]:
        """ARCH_FORCE_MAX_ORDER's range for this architecture, or its absence."""
        today, target = self.target.today, self.target
        name, value = target.macro
        entry = max_order_entry(root, today.name)
        if entry is None:
            default = _mmzone_default(project, name)
            if default is None or today.max_page_order == target.order:
                return
            facts, line = default
            fixed = today.max_order_macro(target.semantics)[1]
            text = f"#define {name} {fixed} (no ARCH_FORCE_MAX_ORDER in arch/{today.arch}/Kconfig)"
            self.context.guards.append(
                GuardCheck(facts.path, line, text, f"N != {today.max_page_order}", True)
            )
            yield self.site(
                facts,
                line,
                1,
                None,
                f"arch/{today.arch}/Kconfig has no ARCH_FORCE_MAX_ORDER, so {name} is fixed "
                f"here at {fixed} (largest order {today.max_page_order}); N = {target.order} "
                f"needs {name} = {value}",
                BUILD,
                fix=(
                    f"give arch/{today.arch}/Kconfig an ARCH_FORCE_MAX_ORDER entry whose "
                    f"range allows {value}"
                ),
            )
            return
        path, line = entry
        low_high = today.max_order_range
        if low_high is None:
            return  # any value is accepted: nothing guards it
        low, high = low_high
        fires = not low <= target.order <= high
        where = f"N < {low} or N > {high}"
        text = f"ARCH_FORCE_MAX_ORDER range (largest orders {low}..{high})"
        self.context.guards.append(GuardCheck(path, line, text, where, fires))
        if fires:
            yield self.site(
                FileFacts(path=path),
                line,
                1,
                None,
                f"{text} refuses N = {target.order} ({name} = {value}) for {today.title}",
                BUILD,
            )


def _mmzone_default(project: Project, name: str) -> tuple[FileFacts, int] | None:
    """mmzone.h's numeric `#define MAX_PAGE_ORDER 10`: the value without Kconfig."""
    for facts in project.files:
        if facts.path == "include/linux/mmzone.h":
            for define in facts.defines:
                if define.name == name and without_comments(define.value).isdigit():
                    return facts, define.line
    return None
