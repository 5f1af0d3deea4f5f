"""Charts as matplotlib figures: what they draw, in which colours, saved headless in several formats."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex

from revelio.errors import InputError
from revelio.render import (
    PALETTE,
    bar_chart,
    baseline_color,
    chart_image,
    line_chart,
    method_color,
    method_colors,
    save_chart,
)
from revelio.render.plots import format_value

ROOT = Path(__file__).resolve().parents[2]


def test_a_method_has_one_colour_wherever_it_appears():
    from revelio import registry

    names = registry.names(controls=True)
    assert [method_color(name) for name in names] == [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    assert len(set(PALETTE)) == len(PALETTE) >= len(names)  # every registered method its own colour
    assert method_colors(["gradcam", "saliency"]) == {"gradcam": PALETTE[names.index("gradcam")],
                                                      "saliency": PALETTE[names.index("saliency")]}  # fmt: skip
    assert method_color("plain") == method_color("plain") in PALETTE  # any other name: stable, from its hash
    assert baseline_color(0) not in PALETTE


def test_line_chart_draws_each_series_with_its_values_and_colour():
    figure = line_chart({"gradcam": ([0, 1, 2], [1.0, 0.5, None]), "reference": ([0, 1, 2], [0.2, 0.2, 0.2])},
                        xticks=["a", "b", "c"], colors={"reference": "#4d4d4d"}, dashed=["reference"], ylim=(0, 1))  # fmt: skip
    ax = figure.axes[0]
    gradcam, reference = ax.get_lines()
    assert to_hex(gradcam.get_color()) == method_color("gradcam").lower()
    assert np.array_equal(gradcam.get_ydata(), [1.0, 0.5, np.nan], equal_nan=True)  # None is a gap
    assert to_hex(reference.get_color()) == "#4d4d4d" and reference.get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"] and ax.get_ylim() == (0, 1)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["gradcam", "reference"]


def test_bar_chart_heights_labels_group_colours_and_hatches():
    figure = bar_chart(["Saliency", "Grad-CAM"], {"revelio": [10.0, 20.0], "Captum": [5.0, None]},
                       group_colors={"Saliency": "#0072b2", "Grad-CAM": "#e69f00"}, hatches={"Captum": "//"},
                       hline=30.0, hline_label="forward")  # fmt: skip
    ax = figure.axes[0]
    bars = ax.patches
    assert [bar.get_height() for bar in bars] == [10.0, 20.0, 5.0, 0.0]
    assert [to_hex(bar.get_facecolor()) for bar in bars] == ["#0072b2", "#e69f00", "#0072b2", "#e69f00"]
    assert [bar.get_hatch() for bar in bars] == [None, None, "//", "//"]
    assert [text.get_text() for text in ax.texts] == ["10", "20", "5", "n/a"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["revelio", "Captum", "forward"]
    log = bar_chart(["a", "b"], {"s": [1.0, 100.0]}, log=True).axes[0]
    assert log.get_yscale() == "log"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: line_chart({}), "non-empty"),
        (lambda: line_chart({"a": ([0, 1], [1.0])}), "one y per x"),
        (lambda: line_chart({"a": ([0], ["x"])}), "numbers"),
        (lambda: line_chart({"a": ([0], [1])}, ylim=(1, 0)), "low < high"),
        (lambda: bar_chart([], {"a": []}), "at least one group"),
        (lambda: bar_chart(["a"], {"s": [1.0, 2.0]}), "one per group"),
        (lambda: bar_chart(["a"], {"s": [1.0]}, log=True, hline=-1.0), "> 0 on a log axis"),
    ],
)
def test_chart_errors(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_charts_save_as_png_svg_pdf_and_become_images(tmp_path):
    figure = line_chart({"saliency": ([0, 1], [0.0, 1.0])}, title="t", size=(4.0, 3.0))
    image = chart_image(figure)
    assert image.shape == (3, 300, 400) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")):
        assert save_chart(figure, tmp_path / f"chart{suffix}").read_bytes().startswith(magic)
    assert save_chart(figure, tmp_path / "a.png").read_bytes() == save_chart(figure, tmp_path / "b.png").read_bytes()
    with pytest.raises(InputError, match="suffixes"):
        save_chart(figure, tmp_path / "chart.docx")
    assert format_value(12345) == "12.3k" and format_value(0.5) == "0.5" and format_value(2.5e6) == "2.5M"


def test_charts_need_no_display_and_matplotlib_is_imported_only_to_draw(tmp_path):
    code = ("import sys, revelio, revelio.render, revelio.cli\n"
            "assert 'matplotlib' not in sys.modules\n"
            "from revelio.render import line_chart, save_chart\n"
            "save_chart(line_chart({'a': ([0, 1], [0, 1])}), sys.argv[1])\n"
            "import matplotlib; print(matplotlib.get_backend())")  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "MPLBACKEND": ""}  # no DISPLAY
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "chart.png")], check=False, capture_output=True, text=True,
                            timeout=120, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
