"""The what-if classes: in id order for reports, and in the order they claim uses."""

from kscan.whatif.analysis import Analysis
from kscan.whatif.buddy import BuddyArithmetic
from kscan.whatif.chunks import MaxOrderChunks
from kscan.whatif.guards import Guards
from kscan.whatif.page_walks import PageWalkAcrossBlock
from kscan.whatif.pageblock import PageblockVsSection
from kscan.whatif.per_order import PerOrderTables
from kscan.whatif.size_limits import MaxOrderSizeLimits

CLASSES = (
    BuddyArithmetic,
    PageWalkAcrossBlock,
    MaxOrderChunks,
    PageblockVsSection,
    PerOrderTables,
    MaxOrderSizeLimits,
    Guards,
)
# A MAX_ORDER use belongs to the first of these that claims it: a guard's names are
# the guard's, a table's size is the table's, and size limits take what is left.
PRECEDENCE = (
    Guards,
    PerOrderTables,
    BuddyArithmetic,
    PageWalkAcrossBlock,
    PageblockVsSection,
    MaxOrderChunks,
    MaxOrderSizeLimits,
)


def class_by_id(name: str) -> Analysis | None:
    """The class named `WIn` or by its name, as an instance that can tell its doc."""
    for cls in CLASSES:
        if cls.id == name.upper() or cls.name == name:
            return cls(context=None)
    return None
