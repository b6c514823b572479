"""kscan series / kscan diff on a small git repository built from the demo fixture."""

from __future__ import annotations

import hashlib
import json
import mailbox
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from snippets import many_walks

from kscan.cli import main
from kscan.engine import Options
from kscan.facts.budget import parse_file_budget
from kscan.results import NotAnalysed
from kscan.review import series
from kscan.review.config import Config
from kscan.review.mail import load
from kscan.review.review import review
from kscan.review.series import SeriesError

DEMO = Path(__file__).parent / "fixtures" / "demo"

GUARD = """	while (pfn < end_pfn) {
		if (!pfn_valid(pfn))
			continue;
"""
NEW_WALK = """
/* Clear the reserved bit on every page of a node. */
static void clear_node_reserved(pg_data_t *pgdat)
{
	unsigned long pfn;

	for (pfn = pgdat->node_start_pfn; pfn < pgdat_end_pfn(pgdat); pfn++)
		ClearPageReserved(pfn_to_page(pfn));
}
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(autouse=True)
def quiet_git(monkeypatch, tmp_path):
    """Git without the user's config, and temporary copies where the test can see them."""
    for var in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{var}_NAME", "Test Author")
        monkeypatch.setenv(f"GIT_{var}_EMAIL", "test@example.org")
        monkeypatch.setenv(f"GIT_{var}_DATE", "2024-01-01T00:00:00Z")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))


@pytest.fixture
def repo(tmp_path) -> Path:
    """master: the demo tree.  topic: fix mark_range(), then add an unguarded walk."""
    root = tmp_path / "linux"
    shutil.copytree(DEMO, root)
    git(root, "init", "-q", "-b", "master")
    git(root, "add", ".")
    git(root, "commit", "-qm", "demo tree")
    git(root, "checkout", "-qb", "topic")
    edit(root / "mm/hole_walks.c", "\twhile (pfn < end_pfn) {\n", GUARD)
    git(root, "commit", "-qam", "mm: check pfn_valid() in mark_range()")
    with (root / "mm/page_walks.c").open("a") as f:
        f.write(NEW_WALK)
    git(root, "commit", "-qam", "mm: add clear_node_reserved()")
    git(root, "checkout", "-q", "master")
    return root


@pytest.fixture
def patches(repo, tmp_path) -> list[Path]:
    out = tmp_path / "patches"
    git(repo, "format-patch", "-q", "-o", str(out), "master..topic")
    return sorted(out.glob("*.patch"))


def new_walk_line() -> int:
    """Line of the walk NEW_WALK appends to the demo's mm/page_walks.c."""
    base = len((DEMO / "mm/page_walks.c").read_text().splitlines())
    offset = next(i for i, line in enumerate(NEW_WALK.splitlines(), 1) if "pfn_to_page" in line)
    return base + offset


def snapshot(root: Path) -> dict:
    """Every file outside .git, HEAD, the branches, the index and the worktrees."""
    files = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
    return {
        "files": files,
        "head": git(root, "rev-parse", "HEAD"),
        "refs": git(root, "for-each-ref"),
        "status": git(root, "status", "--porcelain", "--ignored"),
        "index": git(root, "ls-files", "-s"),
        "worktrees": git(root, "worktree", "list", "--porcelain"),
    }


def judge(tree: Path, files: list[Path], base: str | None = None):
    return review(tree, load(files).patches, Options(jobs=1), Config(), base).patches


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def where(changes) -> list[tuple[str, str, str | None]]:
    return [(c.finding.rule_id, c.finding.location.path, c.finding.location.function)
            for c in changes]


def test_new_walk_is_reported_for_its_patch_and_the_fix_as_a_removal(repo, patches, tmp_path):
    before = snapshot(repo)
    fix, walk = judge(repo, patches)
    assert where(fix.introduced) == []
    assert where(fix.removed) == [("KS001", "mm/hole_walks.c", "mark_range")]
    assert where(walk.introduced) == [("KS001", "mm/page_walks.c", "clear_node_reserved")]
    assert where(walk.removed) == []
    assert "+\t\tClearPageReserved(pfn_to_page(pfn));" in walk.introduced[0].quote()
    verdict = walk.introduced[0].finding.verdict
    # no preset given: judged like a scan, under the first preset where it breaks
    assert verdict.kind == "breaks" and verdict.preset == "arm64-4k"
    assert snapshot(repo) == before
    assert list((tmp_path / "tmp").iterdir()) == []


def test_line_shift_elsewhere_changes_no_fingerprint(repo, tmp_path):
    git(repo, "checkout", "-qb", "shift")
    edit(repo / "mm/hole_walks.c", "#include <linux/mm.h>\n",
         "#include <linux/mm.h>\n#include <linux/memblock.h>\n\n/* more */\n")
    git(repo, "commit", "-qam", "mm: include memblock.h")
    git(repo, "checkout", "-q", "master")
    out = tmp_path / "shift"
    git(repo, "format-patch", "-q", "-o", str(out), "master..shift")
    [result] = judge(repo, sorted(out.glob("*.patch")))
    assert result.introduced == () and result.removed == ()


def test_comments_and_spacing_are_no_news_but_code_is(repo, tmp_path, capsys):
    """A trailing comment and a reindent on a finding's line change no fingerprint in
    `series` or `diff`; changing the code on it removes one finding and brings another."""
    walk = "\t\tSetPageReserved(pfn_to_page(pfn)); /* expect: KS001 */\n"
    git(repo, "checkout", "-qb", "comment")
    edit(repo / "mm/hole_walks.c", walk, "\t\tSetPageReserved( pfn_to_page(pfn) );  /* ok */\n")
    git(repo, "commit", "-qam", "mm: say it is fine")
    git(repo, "checkout", "-qb", "code")
    edit(repo / "mm/hole_walks.c", "SetPageReserved( pfn_to_page(pfn) );",
         "SetPageReserved(pfn_to_page(pfn + 1));")
    git(repo, "commit", "-qam", "mm: reserve the next page")
    git(repo, "checkout", "-q", "master")
    out = tmp_path / "comment"
    git(repo, "format-patch", "-q", "-o", str(out), "master..code")
    comment, code = judge(repo, sorted(out.glob("*.patch")))
    assert comment.introduced == () and comment.removed == ()
    assert where(code.introduced) == where(code.removed) == [
        ("KS001", "mm/hole_walks.c", "mark_range")]
    status, text, _ = run(capsys, "diff", "master..comment", "--tree", str(repo))
    assert status == 0 and "no finding changes" in text


def test_mbox_of_several_patches(repo, patches, tmp_path):
    mbox = tmp_path / "series.mbox"
    mbox.write_text(git(repo, "format-patch", "--stdout", "--cover-letter", "master..topic"))
    loaded = load([mbox]).patches
    assert [p.subject for p in loaded] == [
        "[PATCH 1/2] mm: check pfn_valid() in mark_range()",
        "[PATCH 2/2] mm: add clear_node_reserved()",
    ]
    from_mbox = judge(repo, [mbox])
    from_files = judge(repo, patches)
    assert [where(r.introduced) for r in from_mbox] == [where(r.introduced) for r in from_files]
    assert [where(r.removed) for r in from_mbox] == [where(r.removed) for r in from_files]


@pytest.mark.parametrize("binary", [True, False], ids=["GIT-binary-patch", "binary-files-differ"])
def test_binary_patch_is_passed_over_as_no_c_change(repo, tmp_path, capsys, binary):
    """A firmware blob in a series, with or without its content (`git format-patch
    --binary` or not): noted, and the series goes on."""
    git(repo, "checkout", "-qb", "blob", "topic")
    (repo / "firmware.bin").write_bytes(bytes(range(256)) * 4)
    git(repo, "add", "firmware.bin")
    git(repo, "commit", "-qm", "firmware: add a blob")
    (repo / "firmware.bin").write_bytes(bytes(range(255, -1, -1)) * 4)
    edit(repo / "mm/hole_walks.c", "#include <linux/mm.h>\n", "#include <linux/mm.h>\n\n")
    git(repo, "commit", "-qam", "firmware: update the blob, space mm")
    git(repo, "checkout", "-q", "master")
    mbox = tmp_path / "series.mbox"
    flag = "--binary" if binary else "--no-binary"
    mbox.write_text(git(repo, "format-patch", "--stdout", flag, "master..blob"))
    before = snapshot(repo)
    code, out, err = run(capsys, "series", str(mbox), "--tree", str(repo))
    assert code == 1 and err == ""
    assert "[PATCH 3/4] firmware: add a blob" in out
    assert "  no C change\n    binary: firmware.bin\n" in out
    assert "[PATCH 4/4] firmware: update the blob, space mm" in out
    assert f"  + mm/page_walks.c:{new_walk_line()}:" in out
    assert snapshot(repo) == before


def test_patch_that_does_not_apply_is_named_and_the_series_goes_on(repo, patches, tmp_path,
                                                                   capsys):
    edit(repo / "mm/hole_walks.c", "\twhile (pfn < end_pfn) {\n", "\twhile (pfn != end_pfn) {\n")
    git(repo, "commit", "-qam", "mm: move the goalposts")
    before = snapshot(repo)
    code, out, err = run(capsys, "series", *map(str, patches), "--tree", str(repo))
    assert code == 2
    assert err == "kscan: 1 of 2 patches could not be judged (the report says why)\n"
    first, second = out.split("[PATCH 2/2]")
    assert "  does not apply\n    mm/hole_walks.c: hunk 1 @@ -26,6 +26,8 @@" in first
    assert ("nearest match at line 26 (5 of 6 lines agree); at line 28 the tree has "
            "`while (pfn != end_pfn) {` where the patch expects `while (pfn < end_pfn) {`"
            ) in first
    assert f"  + mm/page_walks.c:{new_walk_line()}:" in second
    code, out, _ = run(capsys, "series", *map(str, patches), "--tree", str(repo),
                       "--stop-on-fail")
    assert code == 2 and "  not tried\n    --stop-on-fail" in out and "  + mm/" not in out
    assert snapshot(repo) == before
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("bad", ["../evil.c", "/etc/evil.c", "mm/../../evil.c"])
def test_paths_that_leave_the_tree_are_refused(repo, tmp_path, capsys, bad):
    patch = tmp_path / "evil.patch"
    patch.write_text(
        f"diff --git a/{bad} b/{bad}\nnew file mode 100644\n--- /dev/null\n+++ b/{bad}\n"
        "@@ -0,0 +1 @@\n+int evil;\n"
    )
    before = snapshot(repo)
    code, _, err = run(capsys, "series", str(patch), "--tree", str(repo))
    assert code == 2
    assert err.startswith("kscan: error: evil.patch: refusing")
    assert not (tmp_path / "evil.c").exists()
    assert snapshot(repo) == before
    assert list((tmp_path / "tmp").iterdir()) == []


def test_tree_that_is_not_a_git_repository(repo, patches, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(repo, plain, ignore=shutil.ignore_patterns(".git"))
    before = snapshot(repo)["files"]
    fix, walk = judge(plain, patches)
    assert where(fix.removed) == [("KS001", "mm/hole_walks.c", "mark_range")]
    assert where(walk.introduced) == [("KS001", "mm/page_walks.c", "clear_node_reserved")]
    assert {k: v for k, v in snapshot(repo)["files"].items()} == before
    assert list((tmp_path / "tmp").iterdir()) == []


def test_interrupt_removes_the_worktree(repo, patches, tmp_path, monkeypatch, capsys):
    def interrupted(_root, _patch, _plan):
        raise KeyboardInterrupt

    monkeypatch.setattr(series, "apply", interrupted)
    before = snapshot(repo)
    code, _, err = run(capsys, "series", *map(str, patches), "--tree", str(repo))
    assert code == 130 and "interrupted" in err
    assert snapshot(repo) == before
    assert list((tmp_path / "tmp").iterdir()) == []


def test_cli_exit_status_follows_fail_on(repo, patches, capsys):
    code, out, _ = run(capsys, "series", *map(str, patches), "--tree", str(repo))
    assert code == 1
    assert f"  + mm/page_walks.c:{new_walk_line()}:" in out and "  - mm/hole_walks.c:29:" in out
    code, _, _ = run(capsys, "series", str(patches[0]), "--tree", str(repo))
    assert code == 0  # a fix only removes findings
    (repo / ".kscan.toml").write_text('fail-on = "high"\n[severity]\nKS001 = "medium"\n')
    code, _, _ = run(capsys, "series", *map(str, patches), "--tree", str(repo))
    assert code == 0
    code, _, _ = run(capsys, "series", *map(str, patches), "--tree", str(repo),
                     "--fail-on", "medium")
    assert code == 1


def test_diff_range_and_base(repo, capsys):
    git(repo, "checkout", "-q", "topic")
    before = snapshot(repo)
    code, out, _ = run(capsys, "diff", "master..topic", "--tree", str(repo))
    assert code == 1
    assert "mm: add clear_node_reserved()" in out
    assert f"  + mm/page_walks.c:{new_walk_line()}:" in out
    code, again, _ = run(capsys, "diff", "--base", "master", "--tree", str(repo))
    assert code == 1 and again.splitlines()[:-1] == out.splitlines()[:-1]
    assert snapshot(repo) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["series", "missing.patch"], "cannot read missing.patch"),
        (["diff", "nosuchrev..HEAD"], "git merge-base failed"),
        (["diff"], "give a range"),
        (["series", "x.patch", "--format", "pdf"], "unknown format 'pdf'"),
    ],
)
def test_errors_are_one_line(repo, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(repo)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("kscan: error: ") and message in err and err.count("\n") == 1


def test_not_a_patch(tmp_path):
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    with pytest.raises(SeriesError, match="junk.txt: no diff"):
        load([junk])


def test_model_preset_from_flag_and_config(repo, patches, capsys):
    code, out, _ = run(capsys, "series", *map(str, patches), "--tree", str(repo),
                       "--format", "email", "--preset", "arm64-4k")
    assert code == 1 and "Model verdict: breaks on arm64-4k:" in out
    (repo / ".kscan.toml").write_text('preset = "vax"\n')
    code, out, err = run(capsys, "series", *map(str, patches), "--tree", str(repo))
    assert code == 2 and out == "" and err.startswith("kscan: error: unknown preset 'vax'")


def test_the_repositorys_filters_and_hooks_never_run(repo, patches, tmp_path, capsys):
    """Clean/smudge filters and hooks are code from the tree: reading blobs with cat-file
    into a fresh repository runs none of them."""
    marker = tmp_path / "ran"
    trap = f"sh -c 'touch {marker}; cat'"
    git(repo, "config", "filter.trap.clean", trap)
    git(repo, "config", "filter.trap.smudge", trap)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("*.c filter=trap\n")
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    before = snapshot(repo)  # git status itself may run the clean filter: start afresh
    marker.unlink(missing_ok=True)
    code, out, _ = run(capsys, "series", *map(str, patches), "--tree", str(repo))
    assert code == 1 and "clear_node_reserved" in out
    assert not marker.exists()
    assert snapshot(repo) == before


# --- files a scan could not analyse --------------------------------------------------

# ~0.35 s of facts, where the demo file takes 0.003 s (0.02 s with the first queries):
# a budget of 0.1 s stops it, and only it
HEAVY = many_walks(3000)
BUDGET = "0.1s"
OVER = "not analysed: over the budget of 0.1 s of CPU (--file-budget)"


@pytest.fixture
def heavy_patches(repo, tmp_path) -> list[Path]:
    """1: 3000 walks appended to mm/hole_walks.c, and a new walk in mm/page_walks.c;
    2: one of them changed; 3: all taken out again."""
    git(repo, "checkout", "-qb", "heavy")
    with (repo / "mm/hole_walks.c").open("a") as f:
        f.write(HEAVY)
    with (repo / "mm/page_walks.c").open("a") as f:
        f.write(NEW_WALK)
    git(repo, "commit", "-qam", "mm: walk a lot")
    edit(repo / "mm/hole_walks.c", "static void f7(unsigned long n)",
         "static void f7(unsigned long limit)")
    git(repo, "commit", "-qam", "mm: rename a parameter")
    edit(repo / "mm/hole_walks.c", HEAVY.replace("f7(unsigned long n)", "f7(unsigned long limit)"),
         "")
    git(repo, "commit", "-qam", "mm: walk less")
    git(repo, "checkout", "-q", "master")
    out = tmp_path / "heavy"
    git(repo, "format-patch", "-q", "-o", str(out), "master..heavy")
    return sorted(out.glob("*.patch"))


def test_a_file_not_analysed_is_named_and_its_findings_neither_come_nor_go(repo, heavy_patches):
    """Over the budget after patch 1, a file's five findings must not read as removed
    (nor its 3000 walks go unsaid): the patch names the file instead.  Its other file is
    judged as ever."""
    options = Options(jobs=1, cache=False, file_budget=parse_file_budget(BUDGET))
    grow, change, shrink = review(repo, load(heavy_patches).patches, options, Config()).patches
    over = OVER
    assert where(grow.introduced) == [("KS001", "mm/page_walks.c", "clear_node_reserved")]
    assert grow.removed == ()
    assert grow.not_analysed == (NotAnalysed("mm/hole_walks.c", f"after the patch: {over}"),)
    assert (change.introduced, change.removed) == ((), ())
    assert change.not_analysed == (
        NotAnalysed("mm/hole_walks.c", f"before and after the patch: {over}"),
    )
    assert (shrink.introduced, shrink.removed) == ((), ())
    assert shrink.not_analysed == (NotAnalysed("mm/hole_walks.c", f"before the patch: {over}"),)


def test_cli_names_the_files_not_analysed_in_every_format_and_strict_exits_3(
    repo, heavy_patches, patches, capsys
):
    patch = str(heavy_patches[0])
    common = ("series", patch, "--tree", str(repo), "--no-cache", "-j", "1")
    budget = ("--file-budget", BUDGET)
    reason = f"after the patch: {OVER}"
    code, out, err = run(capsys, *common, *budget)
    assert code == 1  # clear_node_reserved() breaks
    unknown = f"  not analysed, so the findings there are unknown:\n    mm/hole_walks.c: {reason}\n"
    assert unknown in out
    assert "(1 file not analysed)" in out.splitlines()[-1]
    assert f"kscan: warning: mm/hole_walks.c: {reason} ({Path(patch).name})" in err
    assert run(capsys, *common, *budget, "--strict")[0] == 3
    whole = run(capsys, "series", *map(str, patches), "--tree", str(repo), "--strict")
    assert whole[0] == 1  # every file analysed: --strict changes nothing
    code, out, _ = run(capsys, *common, *budget, "-f", "markdown")
    assert f"- `mm/hole_walks.c`: {reason}" in out
    code, out, _ = run(capsys, *common, *budget, "-f", "email")
    assert "what this patch does to the\nfindings in them is unknown:" in out
    assert f"    mm/hole_walks.c: {reason}" in out
    code, out, _ = run(capsys, *common, *budget, "-f", "html")
    assert f"not analysed, so the findings there are unknown: mm/hole_walks.c: {reason}" in out
    code, out, _ = run(capsys, *common, *budget, "-f", "sarif")
    log = json.loads(out)
    [note] = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["descriptor"] == {"id": "not-analysed"}
    assert note["message"]["text"] == f"mm/hole_walks.c: {reason} ({Path(patch).name})"
    code, _, err = run(capsys, *common, "--file-budget", "soon")
    assert code == 2 and err.startswith("kscan: error: bad --file-budget 'soon'")


def test_a_reply_for_a_patch_whose_only_news_is_a_file_not_analysed(repo, tmp_path, capsys):
    """No finding changes, but a file over budget: the reply says so, and the mbox is
    not empty."""
    git(repo, "checkout", "-qb", "only-heavy")
    with (repo / "mm/hole_walks.c").open("a") as f:
        f.write(HEAVY)
    git(repo, "commit", "-qam", "mm: walk a lot")
    git(repo, "checkout", "-q", "master")
    out = tmp_path / "only-heavy"
    git(repo, "format-patch", "-q", "-o", str(out), "master..only-heavy")
    [patch] = sorted(out.glob("*.patch"))
    code, mbox, err = run(capsys, "series", str(patch), "--tree", str(repo), "--no-cache",
                          "-j", "1", "--file-budget", BUDGET, "-f", "email")
    assert code == 0 and "no replies to write" not in err
    [reply] = mailbox.mbox(str(_written(tmp_path / "replies.mbox", mbox)))
    assert reply["Subject"] == "Re: [PATCH] mm: walk a lot"
    assert "mm/hole_walks.c: after the patch: not analysed" in reply.get_payload()


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_findings_in_a_large_new_file_are_matched_to_their_hunk_lines_in_linear_work():
    """A patch that adds a file has one hunk of all its lines and maybe thousands of
    findings.  Each finding looked at every line of every hunk for its own, and again to
    quote it: `kscan series` on a new file of 4,000 walks took 14 s."""
    from kscan.facts.budget import counting_steps
    from kscan.findings import Finding, Level, Location
    from kscan.results import Hunk

    def steps(walks: int) -> int:
        size = 8 * walks
        lines = tuple((f"+line {i};", None, i) for i in range(1, size + 1))
        hunk = Hunk("mm/new.c", f"@@ -0,0 +1,{size} @@", lines)
        findings = [
            Finding("KS001", "pfn-walk-unchecked", "pfn-walk", Level.LOW, Level.LOW, "walk",
                    Location("mm/new.c", 8 * i + 5, 2, f"f{i}"), f"line {8 * i + 5};")
            for i in range(walks)
        ]
        with counting_steps() as count:
            changes = series._changes(findings, [hunk], new_side=True)
            assert all(c.in_hunk and c.quote()[-1] == f"+{c.finding.source_line}" for c in changes)
        return count.steps

    few, many = steps(250), steps(1000)
    assert many <= 4.5 * few, f"{few} steps, then {many} for 4 times the findings"


def test_a_quote_of_a_very_long_line_shows_the_part_around_the_finding():
    """Minified code: a patch adds a whole file on one line.  Each of its findings
    quoted all of it (3,000 walks on a 260 kB line made a 1 GB markdown comment)."""
    from kscan.findings import Finding, Level, Location
    from kscan.results import Change, Hunk

    line = " ".join(f"f{i}(pfn_to_page(pfn));" for i in range(5000))
    col = line.index("f4000(") + 1
    hunk = Hunk("mm/one.c", "@@ -0,0 +1,2 @@", (("+int x;", None, 1), ("+" + line, None, 2)))
    finding = Finding("KS001", "pfn-walk-unchecked", "pfn-walk", Level.LOW, Level.LOW, "walk",
                      Location("mm/one.c", 2, col, "f"), "")
    header, context, own = Change(finding, hunk, True).quote()
    assert context == "+int x;"
    assert own.startswith("...") and own.endswith("...") and len(own) <= 406
    assert "f4000(pfn_to_page(pfn));" in own
