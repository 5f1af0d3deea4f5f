"""docs/sanity.md holds, per task, the report its command wrote into docs/figures/sanity/TASK; docs/sanity-slow.md the slow run's, from docs/figures/sanity/TASK-slow."""

import json
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"<!-- sanity:(?P<task>[\w-]+):start -->\n(?P<body>.*?)<!-- sanity:(?P=task):end -->", re.DOTALL)


PAGES = {"sanity.md": "", "sanity-slow.md": "-slow"}
"""Each page with generated blocks, and the suffix of its reports' folders."""


def _blocks(page: str = "sanity.md"):
    return {m["task"]: m["body"] for m in BLOCK.finditer((DOCS / page).read_text())}


@pytest.mark.parametrize("page", PAGES)
def test_the_page_names_its_command_and_holds_a_generated_block_per_task(page):
    text = (DOCS / page).read_text()
    slow = "--slow " if PAGES[page] else ""
    command = f"python -m revelio.eval {slow}--task shapes --out docs/figures/sanity/shapes{PAGES[page]} --doc docs/{page}"
    assert command in text
    blocks = _blocks(page)
    assert "shapes" in blocks
    for task, body in blocks.items():
        generated = (DOCS / "figures" / "sanity" / f"{task}{PAGES[page]}" / "report.md").read_text()
        titles = _titles()
        rows = [line for line in body.splitlines() if line.startswith("| ") and line.split("|")[1].strip() in titles]
        assert len(rows) >= 21 + 3, task  # every method and control, and the feature-visualization presets
        for line in rows:
            assert line in generated, f"{task}: row not in the generated report.md: {line}"


@pytest.mark.parametrize("page", PAGES)
def test_each_generated_report_holds_every_check_its_figures_and_the_images_it_used(page):
    blocks = _blocks(page)
    for task, body in blocks.items():
        folder = DOCS / "figures" / "sanity" / f"{task}{PAGES[page]}"
        report = json.loads((folder / "report.json").read_text())
        assert report["settings"]["task"] == task and "dataset seed" in report["settings"]["data"]
        assert report["settings"]["slow"] is bool(PAGES[page])
        checks = {result["check"] for result in report["results"]}
        assert checks == {f"A{i}" for i in range(1, 9)} | {f"F{i}" for i in range(1, 5)}
        for result in report["results"]:
            for figure in result["figures"]:
                assert (folder / figure).is_file(), figure
                assert f"figures/sanity/{task}{PAGES[page]}/{figure}" in body, figure


def _titles():
    from revelio import registry
    from revelio.featureviz import PRESETS

    return {spec.title for spec in registry.methods(controls=True).values()} | {p.title for p in PRESETS.values()}
