"""Reach nodes with their ancestors, in one forward walk of the tree.

tree-sitter keeps no parent pointers: Node.parent and Node.next_sibling search down
from the root, through every sibling before the node on each level.  Asked for each of
n nodes in a file of n functions, or n levels deep, that is n x n steps.  A Descent
moves one TreeCursor forward to each node in file order instead, keeping the path from
the root: every node is passed over at most once for all the nodes reached.
"""

from __future__ import annotations

import tree_sitter as ts


class Descent:
    """Forward through one tree to nodes given by their byte ranges, in file order."""

    def __init__(self, root: ts.Node) -> None:
        self.cursor = root.walk()
        self.path = [root]  # root ... the cursor's node
        self.depth = 0  # where the node last reached is on the path

    def reach(self, start: int, end: int) -> ts.Node | None:
        """The deepest node spanning exactly [start, end), else None.  `start` must not
        come before the previous call's."""
        cursor, path = self.cursor, self.path
        while len(path) > 1 and not _holds(path[-1], start, end):
            if path[-1].end_byte <= start and cursor.goto_next_sibling():
                path[-1] = _node(cursor)
            else:
                cursor.goto_parent()
                path.pop()
        self.depth = len(path) - 1
        # down through the children that hold the range; the cursor may stop on a
        # child that does not, past the ones before it, so they are not passed again
        while cursor.goto_first_child():
            path.append(_node(cursor))
            while path[-1].end_byte <= start and cursor.goto_next_sibling():
                path[-1] = _node(cursor)
            if not _holds(path[-1], start, end):
                break
            self.depth = len(path) - 1
        node = path[self.depth]
        return node if node.start_byte == start and node.end_byte == end else None

    def ancestor(self, up: int) -> ts.Node | None:
        """The node `up` levels above the one last reached."""
        return self.path[self.depth - up] if up <= self.depth else None

    def next_named_sibling(self, up: int) -> ts.Node | None:
        """Forward to the next named sibling of ancestor(up), the node reached then
        (None when there is none): what Node.next_named_sibling answers by a search
        from the root."""
        cursor, path = self.cursor, self.path
        while len(path) - 1 > self.depth - up:
            cursor.goto_parent()
            path.pop()
        self.depth = len(path) - 1
        while cursor.goto_next_sibling():
            path[-1] = _node(cursor)
            if path[-1].is_named:
                return path[-1]
        return None


def _holds(node: ts.Node, start: int, end: int) -> bool:
    return node.start_byte <= start and end <= node.end_byte


def _node(cursor: ts.TreeCursor) -> ts.Node:
    node = cursor.node
    assert node is not None  # a cursor that moved stands on a node
    return node
