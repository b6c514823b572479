"""What every what-if class shares: the question, the order flow, and the sites.

A class is a Rule (kscan/analysis/rule.py): its module docstring is its documentation, `needs`
says what a file must hold for it to matter, and `check` yields its sites as Findings
(rule id = class id, family "what-if", message = the reason at order N, properties:
the fix idiom, when it breaks, the subsystem).  Classes run in a fixed order and one
MAX_ORDER use belongs to the first class that claims it, so a line is listed once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from kscan.analysis.maxorder import Meaning, file_meaning
from kscan.analysis.project import Project
from kscan.analysis.rule import Rule
from kscan.facts.records import Define, FileFacts, Function, NameUse
from kscan.findings import Finding, Level, Related
from kscan.model.archtree import config_symbols
from kscan.results import GuardCheck
from kscan.vocab import ORDER_FAMILY
from kscan.whatif.kbuild import Kbuild
from kscan.whatif.orders import Reach, reach
from kscan.whatif.target import Target, compiled, without_comments

# What happens at order N, and when.
ALWAYS = "breaks on every memory model"
WITHOUT_VMEMMAP = "breaks without SPARSEMEM_VMEMMAP (classic SPARSEMEM: a memmap per section)"
WITHOUT_HUGETLB = "breaks without CONFIG_HUGETLB_PAGE (pageblock_order is then N)"
COST = "costs memory or time; nothing breaks"
MEANING = "the limit moves with N: callers get or ask for larger blocks"
BUILD = "the build fails"
# Not the kernel: userspace tools and their copies of kernel headers, scripts, docs.
_NOT_KERNEL = ("tools/", "scripts/", "samples/", "Documentation/")
# The kernel's name for what a build with an MMU leaves out (mm/nommu.c, file-nommu.c).
_NOMMU = re.compile(r"(?:^|/)[\w-]*nommu[\w-]*\.[ch]$")
# Driver directories of one architecture only.
_ARCH_DRIVERS = {"s390": "s390", "parisc": "parisc", "sh": "sh"}


class Context:
    """One what-if run: the target, the order flow (computed once), and the claims."""

    def __init__(self, target: Target):
        self.target = target
        self.claimed: set[tuple[str, int]] = set()
        self._reach: tuple[Project, Reach] | None = None
        # every guard evaluated, firing or not (kscan/whatif/guards.py)
        self.guards: list[GuardCheck] = []
        self.config = config_symbols(target.today.name)
        self._kbuild: Kbuild | None = None

    def kbuild(self, project: Project) -> Kbuild | None:
        """What this architecture's build compiles (kscan/whatif/kbuild.py), in a tree."""
        if self._kbuild is None and project.tree.root is not None:
            self._kbuild = Kbuild(project.tree.root, self.target.arch, self.config)
        return self._kbuild

    def reach(self, project: Project) -> Reach:
        if self._reach is None or self._reach[0] is not project:
            self._reach = (project, reach(project))
        return self._reach[1]

    def claim(self, path: str, byte: int) -> bool:
        """Take a use (or define) for the calling class; False if an earlier one has."""
        if (path, byte) in self.claimed:
            return False
        self.claimed.add((path, byte))
        return True


class Analysis(Rule):
    family = "what-if"
    fix = ""  # the fix idiom, for every site of the class
    section_class = True  # about blocks crossing sections: silent while N fits in one

    def __init__(self, context: Context | None):
        """context: the run's; None for an instance that only tells its doc."""
        self._context = context

    @property
    def context(self) -> Context:
        if self._context is None:
            raise RuntimeError(f"{self.id} has no what-if run to check")
        return self._context

    @property
    def target(self) -> Target:
        return self.context.target

    def check(self, project: Project) -> Iterable[Finding]:
        if self.section_class and not self.target.exceeds_section:
            return ()
        by_path = {f.path: f for f in project.files}
        kbuild = self.context.kbuild(project)
        return (
            site
            for site in self.sites(project)
            if (kbuild is None or kbuild.built(site.location.path))
            and (
                site.location.path not in by_path
                or self.built(by_path[site.location.path], site.location.line)
            )
        )

    def sites(self, project: Project) -> Iterator[Finding]:
        raise NotImplementedError

    def site(
        self,
        facts: FileFacts,
        line: int,
        col: int,
        function: str | None,
        reason: str,
        when: str,
        *,
        fix: str | None = None,
        severity: Level | None = None,
        related: tuple[Related, ...] = (),
    ) -> Finding:
        return self.finding(
            facts,
            line,
            col,
            function,
            reason,
            severity=severity,
            related=related,
            properties=(
                ("class", self.name),
                ("subsystem", subsystem(facts.path)),
                ("when", when),
                ("fix", fix or self.fix),
            ),
        )

    # -- shared readings of the facts ----------------------------------------------------

    def files(self, project: Project) -> Iterator[FileFacts]:
        """The kernel's files this architecture builds: other architectures' arch/,
        tools/ and scripts/, and the !MMU implementations of an MMU architecture are
        left out (which files a Makefile builds is not read)."""
        for facts in project.files:
            path = facts.path
            if other_arch(path, self.target.arch) or path.startswith(_NOT_KERNEL):
                continue
            if _NOMMU.search(path) and "CONFIG_MMU" in self.context.config[0]:
                continue
            yield facts

    def built(self, facts: FileFacts, line: int) -> bool:
        """The code at line is built for this architecture (kscan/whatif/target.py)."""
        conditions = [cond for first, last, cond in facts.conditions if first <= line <= last]
        return compiled(conditions, self.context.config)

    def uses(self, project: Project) -> Iterator[tuple[FileFacts, NameUse, Meaning]]:
        """Unclaimed MAX_ORDER-family uses, with the file's MAX_ORDER meaning; none from
        a file with a MAX_ORDER of its own (trace_events_user.c's `#define
        MAX_PAGE_ORDER 0` is no buddy order)."""
        tree = project.tree
        for facts in self.files(project):
            meaning = file_meaning(facts, tree.semantics, tree.semantics_source)
            if meaning is None:
                continue
            for use in facts.name_uses:
                if use.name in ORDER_FAMILY and (facts.path, use.byte) not in self.context.claimed:
                    yield facts, use, meaning

    def defines(self, project: Project) -> Iterator[tuple[FileFacts, Define]]:
        """Unclaimed object-like #defines (watched names only, see kscan/whatif/run.py),
        their values without comments."""
        tree = project.tree
        for facts in self.files(project):
            if file_meaning(facts, tree.semantics, tree.semantics_source) is None:
                continue  # a MAX_ORDER of its own (see uses)
            for define in facts.defines:
                if define.params is None and (facts.path, -define.line) not in self.context.claimed:
                    yield facts, define._replace(value=without_comments(define.value))

    def claim_define(self, facts: FileFacts, define: Define) -> bool:
        return self.context.claim(facts.path, -define.line)

    def claim_function(self, facts: FileFacts, fn: Function) -> None:
        """The MAX_ORDER uses in a function this class lists are part of its site."""
        for use in facts.uses_in(fn.span):
            self.context.claim(facts.path, use.byte)


def subsystem(path: str) -> str:
    """Where a site lives, for grouping: `mm`, `mm/kasan`, `drivers/gpu`, `include/linux`."""
    parts = path.split("/")
    if len(parts) <= 2:
        return parts[0] if len(parts) == 2 else "."
    return "/".join(parts[:2])


def other_arch(path: str, arch: str) -> bool:
    """Code of another architecture: its arch/ directory, or its drivers/ (drivers/s390)."""
    if path.startswith("arch/"):
        return not path.startswith(f"arch/{arch}/")
    owner = _ARCH_DRIVERS.get(path.split("/")[1] if path.startswith("drivers/") else "")
    return owner is not None and owner != arch
