"""docs/sanity.md holds, per task, the report its command wrote into docs/figures/sanity/TASK."""

import json
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"<!-- sanity:(?P<task>[\w-]+):start -->\n(?P<body>.*?)<!-- sanity:(?P=task):end -->", re.DOTALL)


def _blocks():
    return {m["task"]: m["body"] for m in BLOCK.finditer((DOCS / "sanity.md").read_text())}


def test_the_page_names_its_command_and_holds_a_generated_block_per_task():
    page = (DOCS / "sanity.md").read_text()
    assert "python -m revelio.eval --task shapes --out docs/figures/sanity/shapes --doc docs/sanity.md" in page
    blocks = _blocks()
    assert "shapes" in blocks
    for task, body in blocks.items():
        generated = (DOCS / "figures" / "sanity" / task / "report.md").read_text()
        titles = _titles()
        rows = [line for line in body.splitlines() if line.startswith("| ") and line.split("|")[1].strip() in titles]
        assert len(rows) >= 21 + 3, task  # every method and control, and the feature-visualization presets
        for line in rows:
            assert line in generated, f"{task}: row not in the generated report.md: {line}"


def test_each_generated_report_holds_every_check_its_figures_and_the_images_it_used():
    for task in _blocks():
        folder = DOCS / "figures" / "sanity" / task
        report = json.loads((folder / "report.json").read_text())
        assert report["settings"]["task"] == task and "dataset seed" in report["settings"]["data"]
        checks = {result["check"] for result in report["results"]}
        assert checks == {f"A{i}" for i in range(1, 9)} | {f"F{i}" for i in range(1, 5)}
        for result in report["results"]:
            for figure in result["figures"]:
                assert (folder / figure).is_file(), figure
                assert f"figures/sanity/{task}/{figure}" in _blocks()[task], figure


def _titles():
    from revelio import registry
    from revelio.featureviz import PRESETS

    return {spec.title for spec in registry.methods(controls=True).values()} | {p.title for p in PRESETS.values()}
