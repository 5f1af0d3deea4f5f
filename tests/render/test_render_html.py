"""The HTML report: structure, escaping, embedded images, atomic writes, and a real browser."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest
import torch
from browser import PROBE, run_chromium

from revelio.errors import InputError
from revelio.render import HtmlReport, chart_image, grid, line_chart

VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Checker(HTMLParser):
    """Records tags, checks that every non-void tag is closed in order, collects images."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert not checker.errors and not checker.stack, (checker.errors, checker.stack)
    return checker


def _decode(src: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    image = cv2.imdecode(np.frombuffer(base64.b64decode(src[len(prefix) :], validate=True), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image[:, :, ::-1]


def _report() -> tuple[HtmlReport, list[torch.Tensor]]:
    red = torch.zeros(3, 16, 16)
    red[0] = 1.0
    tiles = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    images = [red, grid(tiles, titles=["a", "b", "c", "d"], scale=2), chart_image(line_chart({"x": ([0, 1, 2], [0.0, 0.5, 0.2])}))]
    report = HtmlReport("Sanity <checks> & co")
    report.add_heading("Cascading randomization")
    report.add_text('Maps <b>should</b> change & "degrade".\nSecond line.')
    report.add_image(images[0], caption="red square", scale=4)
    report.add_image(images[1], caption="tiles <1>", alt='say "hi"')
    report.add_heading("Curves", level=3)
    report.add_image(images[2])
    report.add_table(["method", "ms", "runs", "note"], [["saliency", 1.23456, 3, "<ok>"], ["gradcam", 0.5, 10, None]])
    report.add_html('<p class="trusted">raw <em>markup</em></p>')
    return report, images


def test_structure_and_escaping():
    report, _ = _report()
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>\n")
    checker = _parse(page)
    assert checker.tags[:2] == ["html", "head"] and checker.tags.count("h1") == 1
    assert "<title>Sanity &lt;checks&gt; &amp; co</title>" in page
    assert "<h2>Cascading randomization</h2>" in page and "<h3>Curves</h3>" in page
    assert "Maps &lt;b&gt;should&lt;/b&gt; change &amp; &quot;degrade&quot;.<br>\nSecond line." in page
    assert "<figcaption>tiles &lt;1&gt;</figcaption>" in page
    assert 'alt="say &quot;hi&quot;"' in page and 'alt="red square"' in page
    assert "<td>&lt;ok&gt;</td>" in page
    assert '<td class="num">1.235</td><td class="num">3</td>' in page and "<td></td>" in page
    assert '<p class="trusted">raw <em>markup</em></p>' in page
    assert "<b>should" not in page and "<checks>" not in page
    assert "image-rendering: pixelated" in page
    assert not re.search(r"(src|href)=\"(?!data:)", page) and "http://" not in page and "https://" not in page


def test_every_image_is_embedded_and_decodes_to_the_input():
    report, images = _report()
    checker = _parse(report.to_html())
    assert len(checker.images) == len(images)
    for attrs, image in zip(checker.images, images):
        decoded = _decode(attrs["src"])
        expected = (image * 255).round().byte().permute(1, 2, 0).numpy()
        assert np.array_equal(decoded, expected)
    assert (checker.images[0]["width"], checker.images[0]["height"]) == ("64", "64")  # scale=4
    assert checker.images[1]["width"] == str(images[1].shape[2])


def test_write_is_atomic_and_creates_folders(tmp_path, monkeypatch):
    report, _ = _report()
    path = report.write(tmp_path / "reports" / "sanity.html")
    assert path.read_text(encoding="utf-8") == report.to_html()
    assert [p.name for p in path.parent.iterdir()] == ["sanity.html"]
    report.add_text("more")

    def failing_replace(source, destination):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("os.replace", failing_replace)
    with pytest.raises(PermissionError, match="cannot write HTML report"):
        report.write(path)
    assert "more" not in path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["sanity.html"]


def test_write_into_a_file_fails_clearly(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        HtmlReport("r").write(tmp_path / "file" / "report.html")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_bad_calls_fail_clearly():
    report = HtmlReport("r")
    with pytest.raises(InputError, match="1 to 6"):
        report.add_heading("x", level=7)
    with pytest.raises(InputError, match="row 0 has 1 cells for 2 headers"):
        report.add_table(["a", "b"], [["only one"]])
    with pytest.raises(InputError, match="grid"):
        report.add_image(torch.zeros(2, 3, 4, 4))
    assert "<table>" not in report.to_html()


def test_report_renders_in_headless_chromium(tmp_path):
    report, images = _report()
    report.add_html(PROBE)
    page = report.write(tmp_path / "report.html")

    dom = run_chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f"<title>IMAGES-OK {len(images)}</title>" in dom.stdout, dom.stdout[:500]

    shot = tmp_path / "shot.png"
    run = run_chromium(tmp_path / "profile", "--window-size=800,600", f"--screenshot={shot}", page.as_uri())
    assert run.returncode == 0 and shot.stat().st_size > 0, run.stderr[-2000:]
    pixels = cv2.imread(str(shot), cv2.IMREAD_COLOR)
    assert pixels is not None and pixels.shape[:2] == (600, 800)
    red = (pixels[:, :, 2] > 240) & (pixels[:, :, 1] < 15) & (pixels[:, :, 0] < 15)
    assert red.sum() >= 0.9 * 64 * 64  # the red square, shown 64x64 CSS pixels


def test_headless_probe_sees_a_broken_image(tmp_path):
    report = HtmlReport("broken")
    report.add_html('<img src="data:image/png;base64,AAAA" alt="broken">')
    report.add_html(PROBE)
    dom = run_chromium(tmp_path / "profile", "--dump-dom", report.write(tmp_path / "r.html").as_uri())
    assert "<title>IMAGES-BROKEN 1</title>" in dom.stdout, dom.stdout[:500]
