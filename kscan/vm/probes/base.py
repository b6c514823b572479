"""What every probe is and gives back."""

from __future__ import annotations

from dataclasses import dataclass, field

from kscan.model.context import ModelContext
from kscan.vm.compare import Check
from kscan.vm.splats import Splat


@dataclass
class ProbeResult:
    name: str
    outcome: str  # one line: what happened, against what the model expected
    checks: list[Check] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # lines worth reading
    splats: list[Splat] = field(default_factory=list)

    @property
    def agrees(self) -> bool | None:
        if any(c.agrees is False for c in self.checks) or self.splats:
            return False
        return True if self.checks else None


class Probe:
    name = ""
    summary = ""
    cmdline = ""  # kernel arguments the probe needs

    def guest(self, ctx: ModelContext) -> str:
        """The body of the shell function the guest runs."""
        raise NotImplementedError

    def judge(self, ctx: ModelContext, output: str | None) -> ProbeResult:
        """Read the guest's output (None: the guest never finished the probe)."""
        raise NotImplementedError
