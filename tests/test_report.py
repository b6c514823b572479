"""The report layer, fed hand-built findings: no rules or parse trees involved."""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from kscan.findings import (
    Finding,
    Level,
    Location,
    Provenance,
    Related,
    Route,
    Verdict,
    Walk,
    code_of,
)
from kscan.report import FORMATS, render
from kscan.results import RuleInfo, ScanResult, Stats

SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

RULES = [
    RuleInfo(
        id="KS007",
        name="contig-range-unaligned",
        family="contig",
        severity=Level.LOW,
        confidence=Level.LOW,
        summary="Contiguous range is not pageblock aligned.",
        doc="Checks alloc_contig_range() callers.\n\nWhy: isolation works on pageblocks.",
    ),
    RuleInfo(
        id="KS001",
        name="pfn-walk-unchecked",
        family="pfn-walk",
        severity=Level.HIGH,
        confidence=Level.MEDIUM,
        summary="PFN walk may step into a memory hole.",
        doc="What: a loop calls pfn_to_page() past a validated block.\n\nFix: pfn_valid().",
    ),
    RuleInfo(
        id="KS004",
        name="max-order-off-by-one",
        family="max-order",
        severity=Level.MEDIUM,
        confidence=Level.HIGH,
        summary="MAX_ORDER compared with the wrong semantics.",
        doc="What: order < MAX_ORDER skips the top order since v6.4.",
    ),
]

PFN_WALK = Finding(
    rule_id="KS001",
    rule_name="pfn-walk-unchecked",
    family="pfn-walk",
    severity=Level.HIGH,
    confidence=Level.MEDIUM,
    message="pfn walk over the zone span never checks pfn_valid()",
    location=Location("mm/page_alloc.c", 1520, 9, "move_freepages_block"),
    source_line="\tfor (pfn = start_pfn; pfn <= end_pfn; pfn++) {",
    related=(
        Related(Location("mm/page_alloc.c", 1500, 2, "move_freepages_block"), "head checked"),
    ),
    walk=Walk(extent="zone-span", unit="pfn", checked_at="section"),
    verdict=Verdict("breaks", "arm64-4k", "pfn 0x88000 lies in a hole with no memmap"),
    properties=(("bound", "end_pfn"),),
)

MAX_ORDER = Finding(
    rule_id="KS004",
    rule_name="max-order-off-by-one",
    family="max-order",
    severity=Level.MEDIUM,
    confidence=Level.HIGH,
    message="order < MAX_ORDER skips the largest order",
    location=Location("mm/page_alloc.c", 300, 14, "__rmqueue_smallest"),
    source_line="\tfor (current_order = order; current_order < MAX_ORDER; ++current_order) {",
)

CONTIG = Finding(
    rule_id="KS007",
    rule_name="contig-range-unaligned",
    family="contig",
    severity=Level.LOW,
    confidence=Level.LOW,
    message="start is not pageblock aligned",
    location=Location("mm/cma debug.c", 42, 2),
    source_line="ret = alloc_contig_range(start, end, MIGRATE_CMA, GFP_KERNEL);",
    related=(
        Related(Location("mm/cma.c", 10, 1, "cma_alloc"), "caller passes an unaligned start"),
        Related(Location("mm/cma.c", 10, 1, "cma_alloc"), "caller passes an unaligned start"),
    ),
)

FINDINGS = [PFN_WALK, MAX_ORDER, CONTIG]


def scan(findings=FINDINGS, **changes) -> ScanResult:
    result = ScanResult(
        findings=list(findings),
        rules=list(RULES),
        tree_root="/src/linux-6.12",
        kernel_version="6.12.117",
        semantics="inclusive-renamed",
        semantics_source="include/linux/mmzone.h:30",
        stats=Stats(
            files=412,
            parsed=412,
            parse_error_files=3,
            recovered_regions=1,
            functions=9000,
            loops=2100,
            seconds=1.2345,
        ),
        warnings=["mm/odd.c: not UTF-8, decoded leniently"],
        tool_version="0.1.0",
    )
    return replace(result, **changes)


def sarif_of(result: ScanResult) -> dict:
    return json.loads(render(result, "sarif", color=False))


def json_of(result: ScanResult) -> dict:
    return json.loads(render(result, "json", color=False))


def text_of(result: ScanResult, *, color: bool = False) -> str:
    return render(result, "text", color=color)


def shifted(finding: Finding, lines: int) -> Finding:
    return replace(finding, location=replace(finding.location, line=finding.location.line + lines))


@pytest.fixture(scope="module")
def sarif_validator():
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def report_validator():
    # Loaded as package data, the way an installed kscan would find it.
    source = resources.files("kscan.report").joinpath("kscan-report.schema.json").read_text()
    schema = json.loads(source)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator, document) -> list[str]:
    return [error.message for error in validator.iter_errors(document)]


# --- SARIF ------------------------------------------------------------------

WALK_STEP = Related(Location("mm/page_alloc.c", 1519, 1, "move_freepages_block"), "walks it")
CALL_STEP = Related(Location("mm/compaction.c", 77, 1, "compact"), "compact() passes the zone")
TRACED = replace(
    PFN_WALK,
    verdict=replace(PFN_WALK.verdict, origin="zone-span", chain=(WALK_STEP, CALL_STEP)),
    provenance=Provenance(
        (
            Route("zone-span", "zone->zone_start_pfn", (WALK_STEP, CALL_STEP)),
            Route("allocated", "page_to_pfn(page)", (WALK_STEP,)),
        ),
        dropped=1,
    ),
)

RESULTS = {
    "findings": scan(),
    "traced": scan([TRACED, MAX_ORDER]),
    "empty": scan([], warnings=[]),
    "no-tree-root": scan(tree_root=None, semantics=None, semantics_source=""),
}


@pytest.mark.parametrize("name", RESULTS)
def test_sarif_validates_against_the_official_schema(sarif_validator, name):
    assert errors(sarif_validator, sarif_of(RESULTS[name])) == []


def test_sarif_carries_the_chain_as_a_code_flow_and_the_verdict_as_properties():
    result = next(r for r in sarif_of(scan([TRACED]))["runs"][0]["results"])
    (flow,) = result["codeFlows"]
    assert flow["message"] == {"text": "where the walked range comes from: zone-span"}
    steps = flow["threadFlows"][0]["locations"]
    assert [s["location"]["message"]["text"] for s in steps] == [
        "walks it",
        "compact() passes the zone",
    ]
    assert steps[1]["location"]["physicalLocation"]["artifactLocation"]["uri"] == "mm/compaction.c"
    assert result["properties"]["verdict"]["origin"] == "zone-span"
    assert result["properties"]["origins"] == ["allocated", "zone-span"]


def test_sarif_schema_catches_a_bad_log(sarif_validator):
    log = sarif_of(scan())
    log["runs"][0]["results"][0]["level"] = "fatal"
    del log["runs"][0]["tool"]["driver"]["name"]
    assert len(errors(sarif_validator, log)) == 2


def test_sarif_rules_describe_the_rules_that_ran():
    driver = sarif_of(scan())["runs"][0]["tool"]["driver"]
    assert driver["name"] == "kscan"
    assert driver["version"] == driver["semanticVersion"] == "0.1.0"
    assert "informationUri" not in driver
    assert [rule["id"] for rule in driver["rules"]] == ["KS001", "KS004", "KS007"]
    pfn = driver["rules"][0]
    assert pfn["name"] == "pfn-walk-unchecked"
    assert pfn["shortDescription"]["text"] == "PFN walk may step into a memory hole."
    assert pfn["fullDescription"]["text"] == (
        "What: a loop calls pfn_to_page() past a validated block."
    )
    assert pfn["help"]["text"] == RULES[1].doc
    assert pfn["defaultConfiguration"]["level"] == "error"
    assert pfn["properties"] == {
        "tags": ["pfn-walk", "correctness"],
        "precision": "medium",
        "problem.severity": "error",
    }
    assert [rule["defaultConfiguration"]["level"] for rule in driver["rules"]] == [
        "error",
        "warning",
        "note",
    ]


def test_sarif_semantic_version_only_when_the_version_is_semver():
    driver = sarif_of(scan(tool_version="0.2.0.dev3"))["runs"][0]["tool"]["driver"]
    assert driver["version"] == "0.2.0.dev3"
    assert "semanticVersion" not in driver


def test_sarif_results_point_at_their_rule_and_level():
    run = sarif_of(scan())["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    levels = {result["ruleId"]: result["level"] for result in run["results"]}
    assert levels == {"KS001": "error", "KS004": "warning", "KS007": "note"}


def test_sarif_results_are_sorted_by_path_line_col_rule():
    run = sarif_of(scan())["runs"][0]
    places = [
        (
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            result["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for result in run["results"]
    ]
    assert places == [("mm/cma%20debug.c", 42), ("mm/page_alloc.c", 300), ("mm/page_alloc.c", 1520)]


def test_sarif_location_of_a_finding():
    result = next(r for r in sarif_of(scan())["runs"][0]["results"] if r["ruleId"] == "KS001")
    location = result["locations"][0]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "mm/page_alloc.c", "uriBaseId": "SRCROOT"},
        "region": {
            "startLine": 1520,
            "startColumn": 9,
            "snippet": {"text": PFN_WALK.source_line},
        },
    }
    assert location["logicalLocations"] == [{"name": "move_freepages_block", "kind": "function"}]
    assert result["message"]["text"] == PFN_WALK.message
    assert result["properties"] == {
        "bound": "end_pfn",
        "confidence": "medium",
        "family": "pfn-walk",
        "walk": {"extent": "zone-span", "unit": "pfn", "checked_at": "section"},
        "verdict": {
            "kind": "breaks",
            "preset": "arm64-4k",
            "reason": "pfn 0x88000 lies in a hole with no memmap",
            "origin": "",
        },
    }


def test_sarif_uri_is_percent_encoded_and_function_optional():
    result = next(r for r in sarif_of(scan())["runs"][0]["results"] if r["ruleId"] == "KS007")
    location = result["locations"][0]
    artifact = location["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "mm/cma%20debug.c", "uriBaseId": "SRCROOT"}
    assert "logicalLocations" not in location


def test_sarif_related_locations_carry_ids_and_messages():
    result = next(r for r in sarif_of(scan())["runs"][0]["results"] if r["ruleId"] == "KS007")
    related = result["relatedLocations"]
    assert [entry["id"] for entry in related] == [1, 2]
    assert related[0]["message"] == {"text": "caller passes an unaligned start"}
    assert related[0]["physicalLocation"]["artifactLocation"]["uri"] == "mm/cma.c"
    assert related[0]["physicalLocation"]["region"] == {"startLine": 10, "startColumn": 1}
    assert related[0]["logicalLocations"] == [{"name": "cma_alloc", "kind": "function"}]


def test_sarif_source_root_is_a_directory_uri():
    run = sarif_of(scan())["runs"][0]
    assert run["originalUriBaseIds"] == {"SRCROOT": {"uri": "file:///src/linux-6.12/"}}
    assert "originalUriBaseIds" not in sarif_of(scan(tree_root=None))["runs"][0]


def test_sarif_absolute_path_becomes_a_file_uri():
    outside = replace(CONTIG, location=Location("/tmp/my tree/cma.c", 3, 1))
    result = sarif_of(scan([outside], tree_root=None))["runs"][0]["results"][0]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "file:///tmp/my%20tree/cma.c"}


def test_sarif_invocation_carries_the_warnings():
    invocation = sarif_of(scan())["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    assert invocation["toolExecutionNotifications"] == [
        {"level": "warning", "message": {"text": "mm/odd.c: not UTF-8, decoded leniently"}}
    ]
    quiet = sarif_of(scan(warnings=[]))["runs"][0]["invocations"][0]
    assert "toolExecutionNotifications" not in quiet


def test_sarif_fingerprint_survives_a_line_shift():
    def fingerprint(finding: Finding) -> str:
        result = sarif_of(scan([finding]))["runs"][0]["results"][0]
        return result["partialFingerprints"]["kscanFingerprint/v2"]

    original = fingerprint(PFN_WALK)
    assert fingerprint(shifted(PFN_WALK, 40)) == original
    commented = PFN_WALK.source_line.rstrip() + " /* ok */"
    assert fingerprint(replace(PFN_WALK, source_line=commented)) == original
    assert fingerprint(replace(PFN_WALK, source_line="\tfor (;;) {")) != original


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("\tx = f(a); /* ok */", "x=f(a);"),
        ("x=f( a );   // reformatted", "x=f(a);"),
        ("unsigned  long pfn;", "unsigned long pfn;"),
        ("y = 2; /* x = pfn_to_page(pfn); */", "y=2;"),  # comment text that reads as code
        ('pr_info("/* %lu", pfn); // why', 'pr_info("/*%lu",pfn);'),  # a string's /* opens none
        ("c = '/'; d = '*'; /* hi", "c='/';d='*';"),
        (" * the end of a comment begun above */ z = 1;", "z=1;"),
        (" * don't */ z = 1;", "z=1;"),
        ("a /* one */ + /* two */ b", "a+b"),
    ],
)
def test_code_of_a_line_drops_comments_and_spacing(line, code):
    assert code_of(line) == code


# --- JSON -------------------------------------------------------------------


@pytest.mark.parametrize("name", RESULTS)
def test_json_validates_against_the_kscan_schema(report_validator, name):
    assert errors(report_validator, json_of(RESULTS[name])) == []


def test_json_carries_verdict_origin_chain_and_every_route():
    walk = json_of(scan([TRACED]))["findings"][0]
    assert walk["verdict"]["origin"] == "zone-span"
    assert [step["message"] for step in walk["verdict"]["chain"]] == [
        "walks it",
        "compact() passes the zone",
    ]
    assert [(r["origin"], r["evidence"]) for r in walk["provenance"]["routes"]] == [
        ("zone-span", "zone->zone_start_pfn"),
        ("allocated", "page_to_pfn(page)"),
    ]
    assert walk["provenance"]["dropped"] == 1


def test_json_schema_rejects_undocumented_or_wrong_fields(report_validator):
    report = json_of(scan())
    report["findings"][0]["undocumented"] = 1
    report["findings"][1]["severity"] = "severe"
    report["findings"][2]["walk"] = {"extent": "galaxy", "unit": "pfn", "checked_at": None}
    assert len(errors(report_validator, report)) == 3


def test_json_schema_documents_every_field(report_validator):
    def undocumented(schema: dict, where: str):
        for name, sub in schema.get("properties", {}).items():
            if "description" not in sub:
                yield f"{where}.{name}"
            yield from undocumented(sub, f"{where}.{name}")
        for name, sub in schema.get("$defs", {}).items():
            yield from undocumented(sub, f"$defs.{name}")

    assert list(undocumented(report_validator.schema, "")) == []


def test_json_report_content():
    report = json_of(scan())
    assert report["schema"] == "kscan-report/1"
    assert report["tool"] == {"name": "kscan", "version": "0.1.0"}
    assert report["tree"] == {
        "root": "/src/linux-6.12",
        "kernel_version": "6.12.117",
        "max_order_semantics": "inclusive-renamed",
        "semantics_source": "include/linux/mmzone.h:30",
    }
    assert report["stats"]["files"] == 412
    assert report["stats"]["seconds"] == 1.234
    assert report["warnings"] == ["mm/odd.c: not UTF-8, decoded leniently"]
    assert [rule["id"] for rule in report["rules"]] == ["KS001", "KS004", "KS007"]
    assert [f["rule_id"] for f in report["findings"]] == ["KS007", "KS004", "KS001"]

    walk = report["findings"][2]
    assert walk == {
        "rule_id": "KS001",
        "rule_name": "pfn-walk-unchecked",
        "family": "pfn-walk",
        "severity": "high",
        "confidence": "medium",
        "message": PFN_WALK.message,
        "path": "mm/page_alloc.c",
        "line": 1520,
        "col": 9,
        "function": "move_freepages_block",
        "source_line": PFN_WALK.source_line,
        "fingerprint": PFN_WALK.fingerprint,
        "related": [
            {
                "path": "mm/page_alloc.c",
                "line": 1500,
                "col": 2,
                "function": "move_freepages_block",
                "message": "head checked",
            }
        ],
        "walk": {"extent": "zone-span", "unit": "pfn", "checked_at": "section"},
        "verdict": {
            "kind": "breaks",
            "preset": "arm64-4k",
            "reason": "pfn 0x88000 lies in a hole with no memmap",
            "origin": "",
            "chain": [],
        },
        "provenance": None,
        "properties": {"bound": "end_pfn"},
    }
    contig = report["findings"][0]
    assert (contig["function"], contig["walk"], contig["verdict"]) == (None, None, None)


def test_json_fingerprint_survives_a_line_shift():
    before = json_of(scan([PFN_WALK]))["findings"][0]
    after = json_of(scan([shifted(PFN_WALK, -7)]))["findings"][0]
    assert after["line"] == before["line"] - 7
    assert after["fingerprint"] == before["fingerprint"]


# --- text -------------------------------------------------------------------


def test_text_lists_breaks_then_unknown_grouped_by_file():
    lines = text_of(scan()).splitlines()
    # PFN_WALK breaks; the other two have no verdict and are listed as unknown
    assert lines[:3] == ["Breaks (1)", "", "mm/page_alloc.c"]
    unknown = lines.index("Unknown (2)")
    assert lines[unknown + 2] == "mm/cma debug.c"
    assert lines.index("mm/page_alloc.c", unknown) > unknown + 2
    starts = [i for i, line in enumerate(lines) if re.match(r".+?\.c:\d+:\d+: KS", line)]
    assert [lines[i].split(":")[0] for i in starts] == [
        "mm/page_alloc.c",
        "mm/cma debug.c",
        "mm/page_alloc.c",
    ]
    assert starts[0] < unknown < starts[1] < starts[2]


def test_text_counts_safe_findings_in_one_line_and_lists_them_when_asked():
    safe = replace(PFN_WALK, verdict=Verdict("safe-by-contract", "any", "a reservation"))
    design = replace(MAX_ORDER, verdict=Verdict("safe-by-design", "x86_64", "fits"))
    text = text_of(scan([safe, design, CONTIG]))
    assert "KS001" not in text.split("\n\n2 findings safe")[0]
    assert (
        "2 findings safe by contract or by design (1 safe-by-contract, 1 safe-by-design): "
        "--all lists them\n"
    ) in text
    listed = render(scan([safe, design, CONTIG]), "text", color=False, show_all=True)
    assert "Safe by contract or by design (2)\n" in listed
    assert "mm/page_alloc.c:1520:9: KS001" in listed and "--all lists them" not in listed


def test_text_shows_the_chain_under_the_verdict():
    step = Related(Location("mm/page_alloc.c", 1490, 1, "caller"), "caller() passes the zone span")
    chained = replace(
        PFN_WALK, verdict=replace(PFN_WALK.verdict, origin="zone-span", chain=(step,))
    )
    text = text_of(scan([chained]))
    assert (
        "  model: breaks (arm64-4k): pfn 0x88000 lies in a hole with no memmap\n"
        "    mm/page_alloc.c:1490: caller() passes the zone span\n"
    ) in text
    assert "  by origin: zone-span 1\n" in text


def test_text_describes_a_finding():
    block = (
        "mm/page_alloc.c:1520:9: KS001 [high/medium] move_freepages_block(): "
        "pfn walk over the zone span never checks pfn_valid()\n"
        "    for (pfn = start_pfn; pfn <= end_pfn; pfn++) {\n"
        "  note: mm/page_alloc.c:1500: head checked\n"
        "  model: breaks (arm64-4k): pfn 0x88000 lies in a hole with no memmap\n"
    )
    text = text_of(scan())
    assert block in text
    assert "mm/cma debug.c:42:2: KS007 [low/low] start is not pageblock aligned\n" in text


def test_text_summary():
    summary = text_of(scan()).split("\n\n")[-1]
    assert summary.splitlines() == [
        "3 findings in 2 files",
        "  KS001 pfn-walk-unchecked      1",
        "  KS004 max-order-off-by-one    1",
        "  KS007 contig-range-unaligned  1",
        "  by severity: high 1, medium 1, low 1",
        "  by verdict: breaks 1, none 2",
        "Scanned 412 files, 9000 functions, 2100 loops "
        "(3 files with parse errors; 1 region re-parsed)",
        "1 warning during the scan",
        "Tree: /src/linux-6.12, kernel 6.12.117, "
        "MAX_ORDER semantics: inclusive-renamed (from include/linux/mmzone.h:30)",
    ]


def test_text_report_is_the_same_however_long_the_scan_took():
    """A warm cache makes a scan ten times faster: the report must not change with it."""
    cold, warm = scan(), scan()
    cold.stats.seconds, warm.stats.seconds = 25.3, 2.05
    assert text_of(cold) == text_of(warm)
    one = scan()
    one.stats.parse_error_files = 1
    assert "(1 file with parse errors; " in text_of(one)


def test_text_summary_counts_repeated_rules():
    summary = text_of(scan([PFN_WALK, shifted(PFN_WALK, 5), MAX_ORDER])).split("\n\n")[-1]
    assert "3 findings in 1 file\n" in summary
    assert "  KS001 pfn-walk-unchecked    2\n" in summary
    assert "  by severity: high 2, medium 1, low 0\n" in summary


def test_text_color_only_adds_escapes():
    plain, colored = text_of(scan()), text_of(scan(), color=True)
    assert "\x1b[" not in plain
    assert "\x1b[1;31m[high/medium]\x1b[0m" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain


# --- all formats --------------------------------------------------------------


def test_empty_result():
    empty = scan([], warnings=[], tree_root=None, semantics=None, semantics_source="")
    text = text_of(empty)
    assert text.startswith("No findings.\n")
    assert "Tree: (no tree root), kernel 6.12.117, MAX_ORDER semantics: unknown\n" in text
    assert json_of(empty)["findings"] == []
    assert sarif_of(empty)["runs"][0]["results"] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_does_not_depend_on_finding_order(fmt):
    shuffled = FINDINGS[:]
    random.Random(1).shuffle(shuffled)
    assert shuffled != FINDINGS
    assert render(scan(shuffled), fmt, color=False) == render(scan(), fmt, color=False)


def test_render_rejects_an_unknown_format():
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render(scan(), "xml", color=False)


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_and_sarif_text_is_json_dumps_indented_layout(fmt):
    """orjson writes the reports; the bytes stay those json.dumps(indent=2) wrote,
    UTF-8 text kept as it is and not escaped."""
    accented = replace(PFN_WALK, message="walk past Zoë's hole — über the section")
    text = render(scan([accented, *FINDINGS[1:]]), fmt, color=False)
    assert "Zoë's hole — über" in text
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
