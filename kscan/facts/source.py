"""One parsed file as the extractors read it: node text and spans, compiled queries,
and the tree (main or re-parsed chunk) that holds a byte.
"""

from __future__ import annotations

import re
from functools import cache

import tree_sitter as ts

from kscan.facts.records import Span
from kscan.parse.parser import LANGUAGE
from kscan.vocab import IDENT


@cache
def query(source: str) -> ts.Query:
    """Compiled on first use: only workers parse, and a warm run parses nothing."""
    return ts.Query(LANGUAGE, source)


class Text:
    """Byte-offset helpers over one file's source."""

    def __init__(self, src: bytes):
        self.src = src

    def of(self, node: ts.Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def flat(self, node: ts.Node) -> str:
        return " ".join(self.of(node).split())

    @staticmethod
    def span(node: ts.Node) -> Span:
        row, col = node.start_point
        return Span(row + 1, col + 1, node.end_point[0] + 1, node.start_byte, node.end_byte)


def names_re(names: tuple[str, ...]) -> re.Pattern[str]:
    """Any of `names` as a whole word."""
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")


def declared_name(declarator: str) -> str:
    """`*page`, `pfns[]`, `*p = NULL` -> the declared identifier."""
    names = IDENT.findall(declarator.split("=", 1)[0])
    return names[-1] if names else ""
