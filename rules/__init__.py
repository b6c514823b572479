"""The registered rules, in id order.  A rule that is not ready is not listed here."""

from importlib import import_module

from kscan.analysis.rule import Rule

_MODULES = (
    "ks001_pfn_walk_unchecked",
    "ks002_pfn_walk_block_hole",
    "ks003_page_walk_cross_section",
    "ks004_order_bound",
    "ks005_block_size",
    "ks006_per_order_array",
    "ks007_contig_max_order_align",
)

RULES: tuple[Rule, ...] = tuple(import_module(f"kscan.rules.{name}").RULE for name in _MODULES)


def rule_by_id(rule_id: str) -> Rule | None:
    for rule in RULES:
        if rule.id == rule_id.upper() or rule.name == rule_id:
            return rule
    return None
