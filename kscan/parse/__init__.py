"""Parse: kernel C through tree-sitter-c, with the repairs kernel macros need and the
function bodies no rule can use left out."""
