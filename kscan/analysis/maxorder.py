"""What a MAX_ORDER-family name means where it is used, and the shape of each use.

Two roles matter.  A *count* is one past the largest valid order (MAX_ORDER before
6.4, NR_PAGE_ORDERS after 6.8): `order < count`, `array[count]`.  A *largest* is the
largest valid order itself (MAX_ORDER in 6.4-6.7, MAX_PAGE_ORDER since 6.8):
`order <= largest`, `PAGE_SIZE << largest`.  Which role a name has is decided per
file: by the file's own `#define` of the name when it has one (tools/ and userspace
mirrors), else by the tree (TreeInfo.semantics, or --max-order-semantics).

Under the exclusive meaning MAX_PAGE_ORDER is read as the MAX_ORDER a mechanical
backport would turn it into, so `--max-order-semantics exclusive` on a 6.12 patch
answers "would this be off by one on 6.1?".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from kscan.analysis.project import Project
from kscan.discover.prefilter import needs
from kscan.discover.treeinfo import nr_pages_semantics
from kscan.facts.records import Define, FileFacts, NameUse
from kscan.facts.source import names_re
from kscan.patterns import compiled
from kscan.vocab import ORDER_NAMES

COUNT, LARGEST = "count", "largest"

_OPERATORS = r"<=|>=|<<|>>|==|!=|<|>|\+|-|&|\||\*|/"
ORDER_WORD = re.compile(r"order", re.I)  # a name or a text that is about an order
_ORDER_NAME = names_re(ORDER_NAMES)
_CLAMPS = re.compile(r"\b(?:min|min_t|clamp|clamp_t|clamp_val)\s*\(")

# A max-order finding needs one of the names in the file (its own #define included).
MAX_ORDER_NEEDS = (needs(ORDER_NAMES),)


@dataclass(frozen=True, slots=True)
class Meaning:
    semantics: str  # one of treeinfo.SEMANTICS
    source: str  # where the meaning comes from, for messages

    def role(self, name: str) -> str | None:
        if name == "NR_PAGE_ORDERS":
            return COUNT
        if name in ("MAX_ORDER", "MAX_PAGE_ORDER"):
            return COUNT if self.semantics == "exclusive" else LARGEST
        return None

    def describe(self, name: str) -> str:
        if self.role(name) == COUNT:
            return f"{name} is one past the largest order ({self.semantics}, {self.source})"
        return f"{name} is the largest valid order ({self.semantics}, {self.source})"


@dataclass(frozen=True, slots=True)
class Operands:
    """A binary expression with the name as one operand."""

    op: str
    other: str
    name_left: bool  # `NAME op other` rather than `other op NAME`

    @property
    def normalised_op(self) -> str:
        """The operator as seen with the name on the right: `N >= x` is `x <= N`."""
        if not self.name_left:
            return self.op
        return {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(self.op, self.op)

    @property
    def about_an_order(self) -> bool:
        return bool(ORDER_WORD.search(strip_names(self.other)))


def strip_names(text: str) -> str:
    return _ORDER_NAME.sub("", text)


def operands(use: NameUse) -> Operands | None:
    if use.parent_kind != "binary_expression":
        return None
    name = re.escape(use.name)
    right = compiled(rf"(.+?)\s*({_OPERATORS})\s*{name}").fullmatch(use.parent)
    if right:
        return Operands(right[2], right[1], False)
    left = compiled(rf"{name}\s*({_OPERATORS})\s*(.+)").fullmatch(use.parent)
    if left:
        return Operands(left[1], left[2], True)
    return None


def assigned_to(use: NameUse) -> str | None:
    """`lhs` of `lhs = NAME` / `T lhs = NAME`, when the name is the whole value."""
    if use.parent_kind not in ("assignment_expression", "init_declarator"):
        return None
    match = compiled(rf"(.+?)\s*=\s*{re.escape(use.name)}").fullmatch(use.parent)
    return match[1] if match else None


def clamped(use: NameUse) -> bool:
    """The name is an argument of min()/clamp() in a statement about an order."""
    return (
        use.parent_kind == "argument_list"
        and bool(_CLAMPS.search(use.context))
        and bool(ORDER_WORD.search(strip_names(use.context)))
    )


def file_meaning(facts: FileFacts, tree_semantics: str | None, tree_source: str) -> Meaning | None:
    """The file's own definition wins; a private MAX_ORDER whose era the file does not
    spell out (no MAX_ORDER_NR_PAGES / NR_PAGE_ORDERS beside it) gets no meaning."""
    own = {d.name: d for d in facts.defines if d.params is None}
    if not any(name in own for name in ("MAX_ORDER", "MAX_PAGE_ORDER")):
        return Meaning(tree_semantics, tree_source) if tree_semantics else None
    if "MAX_ORDER_NR_PAGES" in own:
        nr_pages = own["MAX_ORDER_NR_PAGES"]
        semantics = nr_pages_semantics(nr_pages.value)
        where = f"{facts.path}:{nr_pages.line}"
    elif "NR_PAGE_ORDERS" in own:
        semantics, where = "inclusive-renamed", f"{facts.path}:{own['NR_PAGE_ORDERS'].line}"
    else:
        return None
    return Meaning(semantics, f"this file's own definition, {where}") if semantics else None


def uses(project: Project) -> Iterator[tuple[FileFacts, NameUse, Meaning, str]]:
    """(file, use, meaning, role) for every MAX_ORDER-family use with a known role."""
    tree = project.tree
    for facts in project.files:
        if not facts.name_uses and not facts.defines:
            continue
        meaning = file_meaning(facts, tree.semantics, tree.semantics_source)
        if meaning is None:
            continue
        for use in facts.name_uses:
            role = meaning.role(use.name)
            if role:
                yield facts, use, meaning, role


def defines(project: Project) -> Iterator[tuple[FileFacts, Define, Meaning]]:
    """(file, define, meaning) for object-like and function-like defines naming an order."""
    tree = project.tree
    for facts in project.files:
        if not facts.defines:
            continue
        meaning = file_meaning(facts, tree.semantics, tree.semantics_source)
        if meaning is None:
            continue
        for define in facts.defines:
            if define.name not in ORDER_NAMES and _ORDER_NAME.search(define.value):
                yield facts, define, meaning
