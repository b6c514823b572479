"""Range provenance: where the range a walk covers comes from.

For every PFN or struct page walk, the bounds of the walked range are traced back
through assignments, helpers and callers (trace.py) to an origin class (origins.py),
keeping the chain of steps.  The model judges each route under concrete layouts
(kscan/model/origins.py): spans and user input can hold holes and offline or absent
sections; the others are safe by a contract the kernel keeps, or by design.

It is part of the analysis stage: the rules' Project holds one Tracer per scan, and
the tracer walks the call graph (kscan/callgraph/) and reads the facts layer: facts per
file, and the bytes of the functions a chain visits (kscan/facts/body_values.py).
"""

from kscan.analysis.provenance.trace import Tracer, WalkRange

__all__ = ["Tracer", "WalkRange"]
