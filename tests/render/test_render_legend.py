"""Legends, JPEG files, display scales and galleries: what a picture needs to be read."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from revelio.errors import InputError
from revelio.render import (
    HtmlReport,
    Picture,
    colorbar,
    colormap,
    display_scale,
    hatch_unseen,
    jpeg_bytes,
    method_color,
    normalize_map,
    save_image,
    signed_key,
    stack,
    title_band,
)


def test_colorbar_runs_through_the_colormap_left_to_right_with_its_labels():
    bar = colorbar("inferno", 200, low="0", high=">= 0.5", caption="|map|")
    assert bar.shape[0] == 3 and bar.shape[2] == 200
    row = bar[:, 6, 6:194]  # the middle row of the bar, inside its frame
    expected = colormap(torch.linspace(0, 1, row.shape[-1])[None], "inferno")[:, 0]
    assert torch.allclose(row, expected, atol=0.02)
    below = bar[:, 20:, :].mean(dim=0)
    assert (below[:, :40] < 0.5).any() and (below[:, -60:] < 0.5).any()  # text under both ends
    with pytest.raises(InputError, match="at least 40"):
        colorbar("jet", 10)


def test_signed_key_is_dark_to_grey_to_bright():
    key = signed_key(160, scale="0.2")
    row = key[0, 6, 6:154]
    assert row[0] < 0.02 and abs(float(row[len(row) // 2]) - 0.5) < 0.02 and row[-1] > 0.98


def test_display_scale_is_what_the_colours_saturate_at():
    maps = torch.zeros(2, 3, 4, 4)
    maps[0, 1, 0, 0] = -4.0
    maps[1, :, 1, 1] = torch.tensor([1.0, -2.0, 0.5])
    assert torch.equal(display_scale(maps, "heat", percentile=100), torch.tensor([4.0, 2.0]))
    assert torch.equal(display_scale(maps, "signed", percentile=100), torch.tensor([4.0, 2.0]))
    shown = normalize_map(maps[:1], percentile=100, signed=True)
    assert shown[0, 1, 0, 0] == 0.0 and shown[0, 0, 0, 0] == 0.5  # minus the scale is black, zero grey


def test_hatch_marks_only_the_unseen_pixels():
    image = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(0))
    seen = torch.zeros(1, 12, 12, dtype=torch.bool)
    seen[:, :, 6:] = True
    marked = hatch_unseen(image, seen)
    assert torch.equal(marked[:, :, 6:], image[:, :, 6:])
    assert not torch.allclose(marked[:, :, :6], image[:, :, :6])
    assert len(torch.unique(marked[:, :, :6].round(decimals=2))) > 2  # stripes, not one flat colour


def test_stack_centres_pieces_and_title_band_fits_the_text():
    band = title_band(["Grad-CAM", "circle  p 0.93"], 120)
    assert band.shape[-1] == 120 and (band < 0.5).any()
    piece = torch.zeros(3, 10, 20)
    stacked = stack([band, piece], pad=2, background=1.0)
    assert stacked.shape == (3, band.shape[1] + 10 + 6, 124)
    top = 2 + band.shape[1] + 2
    assert torch.equal(stacked[:, top : top + 10, 52:72], piece)
    with pytest.raises(InputError):
        stack([])


def test_jpeg_and_save_image_by_suffix(tmp_path):
    image = torch.zeros(3, 16, 16)
    image[0] = 1.0
    decoded = cv2.imdecode(np.frombuffer(jpeg_bytes(image), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (16, 16, 3) and abs(int(decoded[8, 8, 2]) - 255) < 8  # red, in BGR
    assert save_image(image, tmp_path / "a.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert save_image(image, tmp_path / "a.PNG").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(InputError, match="suffix"):
        save_image(image, tmp_path / "a.gif")
    with pytest.raises(InputError, match="quality"):
        jpeg_bytes(image, quality=101)


def test_gallery_links_files_embeds_tensors_and_shows_method_colours():
    report = HtmlReport("page")
    report.add_gallery([
        Picture("00-a-gradcam.jpg", "Grad-CAM", method_color("gradcam"), size=(200, 100), scale=2.0),
        Picture(torch.zeros(3, 4, 6), "embedded"),
    ])
    report.add_table(["method", "score"], [["gradcam", 0.5], ["baseline", 0.1]], colors=[method_color("gradcam"), None])
    page = report.to_html()
    assert '<img src="00-a-gradcam.jpg" alt="Grad-CAM" width="400" height="200">' in page
    assert 'src="data:image/png;base64,' in page and 'width="6" height="4"' in page
    assert page.count(f"background:{method_color('gradcam')}") == 2
    with pytest.raises(InputError, match="relative path of an image file with its size"):
        report.add_gallery([Picture("x.png")])
    with pytest.raises(InputError, match="one per row"):
        report.add_table(["a"], [[1]], colors=[])
