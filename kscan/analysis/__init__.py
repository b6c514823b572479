"""Analysis: what rules are built on.  The Rule base class, the Project (every file's
facts, the tree, the call graph), and the shared readings of facts: PFN walks and
MAX_ORDER uses.  The rules themselves live in rules/, installed as kscan.rules."""
