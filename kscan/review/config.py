"""`.kscan.toml` at the tree root: a team's defaults.  Command-line flags win.

    select = ["KS001", "KS002"]        # only these rules (default: all)
    ignore = ["KS003"]                 # every rule but these
    exclude = ["mm/kasan/*"]           # fnmatch patterns, as --exclude
    validity-checks = ["my_pfn_ok"]    # as --validity-check
    fail-on = "unknown"                # what fails a run: breaks (default), unknown, any,
                                       # or a severity (low, medium, high)
    preset = "arm64-4k"                # the model's geometry for series verdicts

    [severity]                         # override a rule's severity
    KS002 = "medium"

A list given on the command line replaces the file's list; it does not add to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kscan.findings import FailOn, Finding, Level
from kscan.reading import read_text
from kscan.rules import RULES, rule_by_id

FILENAME = ".kscan.toml"
_LISTS = ("select", "ignore", "exclude", "validity-checks")


class ConfigError(Exception):
    """A config file that cannot be read or says something kscan does not know (one line)."""


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    validity_checks: tuple[str, ...] = ()
    fail_on: FailOn | None = None
    preset: str | None = None
    severity: dict[str, Level] = field(default_factory=dict)

    def settings(self) -> list[str]:
        """The names of the settings the file gives, as written there."""
        given = [
            (name, getattr(self, name.replace("-", "_")))
            for name in (*_LISTS, "fail-on", "preset", "severity")
        ]
        return [name for name, value in given if value]

    def rules(self, cli_select: list[str] | None) -> list[str]:
        """Rule ids to run (empty: all): --select, else the file's select minus ignore."""
        if cli_select:
            return cli_select
        if not self.ignore:
            return list(self.select)
        wanted = self.select or tuple(r.id for r in RULES)
        return [r for r in wanted if r not in self.ignore]

    def with_severities(self, findings: list[Finding]) -> list[Finding]:
        return [
            replace(f, severity=self.severity[f.rule_id]) if f.rule_id in self.severity else f
            for f in findings
        ]


def load(root: Path | None) -> Config:
    """The tree's .kscan.toml, or the defaults when there is none."""
    path = (root or Path(".")) / FILENAME
    try:
        text = read_text(path)
    except FileNotFoundError:
        return Config()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    import tomllib  # only trees with a .kscan.toml need it

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    return _parse(path, data)


def _parse(path: Path, data: dict[str, Any]) -> Config:
    unknown = set(data) - {*_LISTS, "fail-on", "preset", "severity"}
    if unknown:
        raise ConfigError(f"{path}: unknown setting {sorted(unknown)[0]!r}")
    lists = {key: _strings(path, key, data.get(key, [])) for key in _LISTS}
    for key in ("select", "ignore"):
        lists[key] = tuple(_rule_id(path, key, rule) for rule in lists[key])
    severity = data.get("severity", {})
    if not isinstance(data.get("preset", ""), str):
        raise ConfigError(f'{path}: preset must be a string such as "arm64-4k"')
    if not isinstance(severity, dict):
        raise ConfigError(f"{path}: [severity] must be a table of rule = level")
    return Config(
        path=path,
        select=lists["select"],
        ignore=lists["ignore"],
        exclude=lists["exclude"],
        validity_checks=lists["validity-checks"],
        fail_on=_fail_on(path, data["fail-on"]) if "fail-on" in data else None,
        preset=data.get("preset"),
        severity={
            _rule_id(path, "severity", rule): _level(path, f"severity.{rule}", level)
            for rule, level in severity.items()
        },
    )


def _strings(path: Path, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of strings")
    return tuple(value)


def _rule_id(path: Path, key: str, name: str) -> str:
    rule = rule_by_id(name)
    if rule is None:
        raise ConfigError(f"{path}: {key}: unknown rule {name!r} (see `kscan rules`)")
    return rule.id


def _fail_on(path: Path, value: object) -> FailOn:
    try:
        return FailOn.parse(str(value))
    except ValueError as err:
        raise ConfigError(f"{path}: fail-on: {err}") from None


def _level(path: Path, key: str, value: object) -> Level:
    try:
        return Level.parse(str(value))
    except ValueError as err:
        raise ConfigError(f"{path}: {key}: {err}") from None
