"""Statuses and the report's renderings (terminal table, JSON, Markdown), on hand-made results."""

import json

import pytest

from revelio.errors import InputError
from revelio.eval import CheckResult, SanityReport
from revelio.eval.outcome import Measurement, decide, not_applicable


@pytest.mark.parametrize(
    "expected, met, degenerate, status",
    [
        ("pass", True, False, "pass"),
        ("pass", False, False, "fail"),
        ("fail", False, False, "expected fail"),
        ("fail", True, False, "unexpected pass"),
        ("report", True, False, "no expectation"),
        ("report", False, False, "no expectation"),
        ("pass", True, True, "degenerate"),  # an all-zero map is never a pass
        ("fail", True, True, "degenerate"),
        ("n/a", True, False, "n/a"),
    ],
)
def test_decide(expected, met, degenerate, status):
    assert decide(expected, Measurement("x", met, degenerate=degenerate)) == status


def test_not_applicable_wins():
    assert decide("pass", not_applicable("no masks")) == "n/a"


def _report() -> SanityReport:
    results = [
        CheckResult("A3", "gradcam", "pass", "pass", "criterion a", "Spearman 0.1", True, {"x": float("nan")}),
        CheckResult("A3", "guided-backprop", "expected fail", "fail", "criterion a", "Spearman 0.7 | high", False),
        CheckResult("A6", "gradcam", "n/a", "pass", "criterion b", "-", None, note="needs masks"),
        CheckResult("F1", "plain", "unexpected pass", "fail", "criterion c", "Pearson 1.0", True),
        CheckResult("A4", "gradcam", "inconclusive", "pass", "criterion d", "0.5 [0.4, 0.6]", None,
                    criteria=[{"figure": "class effect", "flip": "inconclusive for a threshold in [0.40, 0.60]"}]),
    ]
    settings = {"images": 8, "seed": 0, "seconds": 1.5, "device": "cpu", "task": "shapes",
                "data": "task 'shapes', dataset seed 2, items 0..7 (8 images)"}
    return SanityReport("shapes", settings, results, titles={"gradcam": "Grad-CAM"})


def test_table_markdown_and_json():
    report = _report()
    table = report.table()
    lines = table.splitlines()
    assert "dataset seed 2, items 0..7" in lines[0]
    grad_cam = next(line for line in lines if line.startswith("Grad-CAM"))
    assert "pass: cascading model randomization" in grad_cam and "inconclusive: random logit" in grad_cam
    assert "expected fail: cascading model randomization" in table and "unexpected pass: known answer" in table
    assert report.result("A3", "guided-backprop").status == "expected fail"
    with pytest.raises(KeyError, match="methods"):
        report.result("A9", "gradcam")
    data = json.loads(report.to_json())
    assert data["results"][0]["values"]["x"] is None  # NaN is not JSON
    assert data["counts"]["expected fail"] == 1 and data["checks"]["A3"]["reference"].startswith("Adebayo")
    markdown = report.to_markdown()
    assert "| Grad-CAM | " in markdown and "Spearman 0.7 \\| high" in markdown and "needs masks" in markdown
    assert "class effect: inconclusive for a threshold in [0.40, 0.60]" in markdown
    assert "items 0..7" in markdown


def test_write_without_artifacts_writes_json_and_markdown(tmp_path):
    written = _report().write(tmp_path / "out")
    assert set(written) == {"report.json", "report.md"}
    assert json.loads(written["report.json"].read_text())["model"] == "shapes"


def test_the_report_goes_into_its_tasks_block_of_a_page(tmp_path):
    report = _report()
    report.results[0].figures = ["a3_cascade.png"]
    page = tmp_path / "docs" / "sanity.md"
    page.parent.mkdir()
    page.write_text("intro\n<!-- sanity:shapes:start -->\nSTALE REPORT\n<!-- sanity:shapes:end -->\noutro\n")
    report.splice_into(page, tmp_path / "docs" / "figures" / "sanity" / "shapes")
    text = page.read_text()
    assert text.startswith("intro\n<!-- sanity:shapes:start -->\n") and text.endswith("<!-- sanity:shapes:end -->\noutro\n")
    assert "STALE REPORT" not in text and "(figures/sanity/shapes/a3_cascade.png)" in text
    page.write_text("no markers")
    with pytest.raises(InputError, match="sanity:shapes:start"):
        report.splice_into(page, tmp_path)
