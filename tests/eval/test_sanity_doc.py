"""docs/sanity.md shows the report that its command wrote into docs/figures/sanity."""

import json
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_doc_tables_are_the_generated_report():
    page = (DOCS / "sanity.md").read_text()
    generated = (DOCS / "figures" / "sanity" / "report.md").read_text()
    assert "python -m revelio.eval --slow --out docs/figures/sanity" in page
    titles = _titles()
    matrix = [line for line in page.splitlines() if line.startswith("| ") and line.split("|")[1].strip() in titles]
    assert len(matrix) == 10  # seven attribution rows, three feature-visualization rows
    for line in matrix:
        assert line in generated, f"docs/sanity.md row not in the generated report.md: {line}"


def test_the_generated_report_holds_every_check_and_its_figures():
    report = json.loads((DOCS / "figures" / "sanity" / "report.json").read_text())
    assert report["model"] == "shapes" and report["settings"]["slow"] is True
    checks = {result["check"] for result in report["results"]}
    assert checks == {f"A{i}" for i in range(1, 9)} | {f"F{i}" for i in range(1, 5)}
    for result in report["results"]:
        for figure in result["figures"]:
            assert (DOCS / "figures" / "sanity" / figure).is_file(), figure
    page = (DOCS / "sanity.md").read_text()
    for figure in {f for result in report["results"] for f in result["figures"]}:
        assert f"figures/sanity/{figure}" in page, f"docs/sanity.md does not show {figure}"


def _titles():
    from revelio import registry
    from revelio.featureviz import PRESETS

    return {spec.title for spec in registry.methods(controls=True).values()} | {p.title for p in PRESETS.values()}
