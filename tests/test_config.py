"""`.kscan.toml` at the tree root; command-line flags win."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kscan.cli import main
from kscan.findings import FailOn, Level
from kscan.review import config
from kscan.review.config import Config, ConfigError

DEMO = Path(__file__).parent / "fixtures" / "demo"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "linux"
    shutil.copytree(DEMO, root)
    return root


def test_no_file_means_defaults(tmp_path):
    assert config.load(tmp_path) == Config()


def test_everything(tree):
    (tree / ".kscan.toml").write_text(
        'select = ["KS001", "pfn-walk-block-hole"]\nignore = ["KS002"]\n'
        'exclude = ["mm/page_*"]\nvalidity-checks = ["my_pfn_ok"]\nfail-on = "Medium"\n'
        'preset = "arm64-4k"\n[severity]\nKS001 = "low"\n'
    )
    settings = config.load(tree)
    assert settings.select == ("KS001", "KS002") and settings.ignore == ("KS002",)
    assert settings.rules(None) == ["KS001"]
    assert settings.rules(["KS003"]) == ["KS003"]
    assert settings.exclude == ("mm/page_*",)
    assert settings.validity_checks == ("my_pfn_ok",)
    assert settings.fail_on == FailOn(None, Level.MEDIUM)
    assert settings.preset == "arm64-4k"
    assert settings.severity == {"KS001": Level.LOW}


def test_ignore_alone_means_every_other_rule():
    assert "KS003" not in Config(ignore=("KS003",)).rules(None)
    assert "KS001" in Config(ignore=("KS003",)).rules(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("select = [", "invalid TOML"),
        ("colour = true", "unknown setting 'colour'"),
        ('select = "KS001"', "select must be a list of strings"),
        ('ignore = ["KS999"]', "unknown rule 'KS999'"),
        ('[severity]\nKS001 = "urgent"', "unknown level 'urgent'"),
        ('fail-on = "sometimes"', "fail-on: unknown threshold 'sometimes'"),
        ("preset = 4", "preset must be a string"),
    ],
)
def test_bad_config(tree, text, message):
    (tree / ".kscan.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load(tree)


def test_cli_uses_config_and_flags_win(tree, capsys):
    (tree / ".kscan.toml").write_text(
        'select = ["KS001", "KS002", "KS003"]\nignore = ["KS003"]\n'
        'exclude = ["*/block_walks.c"]\n[severity]\nKS001 = "low"\n'
    )
    code, out, _ = run(capsys, str(tree), "-q")
    assert code == 1
    assert "KS003" not in out and "block_walks" not in out
    walks = (tree / "mm/hole_walks.c").read_text().count("expect: KS001")
    assert f"by severity: high 0, medium 0, low {walks}" in out
    code, out, _ = run(capsys, str(tree), "-q", "--select", "KS003", "--exclude", "nothing")
    assert "KS003" in out and "KS001" not in out


def test_cli_bad_config_is_one_line(tree, capsys):
    (tree / ".kscan.toml").write_text("colour = true\n")
    code, out, err = run(capsys, str(tree), "-q")
    assert code == 2 and out == ""
    assert err.startswith("kscan: error: ") and "unknown setting" in err and err.count("\n") == 1
