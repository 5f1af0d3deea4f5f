"""Grid layout: exact tile positions, upscaling, title bands and clear errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from revelio.errors import InputError
from revelio.render import grid


def _tiles(count: int, height: int = 4, width: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(count)
    return torch.rand(count, 3, height, width, generator=generator) * 0.8 + 0.1  # never pure white


def _tile_mask(shape, boxes) -> torch.Tensor:
    mask = torch.zeros(shape[-2:], dtype=torch.bool)
    for y, x, h, w in boxes:
        mask[y : y + h, x : x + w] = True
    return mask


def test_tiles_sit_exactly_where_the_layout_says():
    tiles = _tiles(5)
    out = grid(tiles, ncols=3, pad=2)
    assert out.shape == (3, 2 + 2 * (4 + 2), 2 + 3 * (6 + 2))
    boxes = []
    for i in range(5):
        row, col = divmod(i, 3)
        y, x = 2 + row * 6, 2 + col * 8
        assert torch.equal(out[:, y : y + 4, x : x + 6], tiles[i])
        boxes.append((y, x, 4, 6))
    gaps = out[:, ~_tile_mask(out.shape, boxes)]
    assert torch.equal(gaps, torch.ones_like(gaps))  # pads and the empty sixth cell are background


def test_scale_upscales_by_nearest_neighbour():
    tiles = _tiles(2, 3, 2)
    out = grid(tiles, scale=3, pad=1, background=0.0)
    assert out.shape == (3, 1 + 9 + 1, 1 + 2 * (6 + 1))
    for i in range(2):
        block = out[:, 1:10, 1 + i * 7 : 7 + i * 7]
        assert torch.equal(block, tiles[i].repeat_interleave(3, dim=1).repeat_interleave(3, dim=2))


def test_titles_add_a_band_of_text_above_each_row():
    tiles = _tiles(4, 20, 30)
    plain = grid(tiles, ncols=2, pad=2)
    titled = grid(tiles, ncols=2, pad=2, titles=["cat", "dog", "car", "tree"])
    assert titled.shape[2] == plain.shape[2]
    band, remainder = divmod(titled.shape[1] - plain.shape[1], 2)
    assert remainder == 0 and band >= 10  # one band per row, tall enough for text
    for i in range(4):
        row, col = divmod(i, 2)
        y, x = 2 + row * (band + 22) + band, 2 + col * 32
        assert torch.equal(titled[:, y : y + 20, x : x + 30], tiles[i])
        title = titled[:, y - band : y, x : x + 30]
        assert title.min() < 0.3  # black text drawn in the band above the tile
        assert (title.amin(dim=0) < 0.5).sum() >= 10


def test_one_title_per_column_heads_the_first_row_only():
    tiles = _tiles(6, 20, 30)
    plain = grid(tiles, ncols=3, pad=2)
    per_tile = grid(tiles, ncols=3, pad=2, titles=[str(i) for i in range(6)])
    headed = grid(tiles, ncols=3, pad=2, titles=["input", "saliency", "grad-cam"])
    band = headed.shape[1] - plain.shape[1]
    assert band > 0 and per_tile.shape[1] - plain.shape[1] == 2 * band
    for i in range(6):
        row, col = divmod(i, 3)
        y, x = 2 + band + row * 22, 2 + col * 32
        assert torch.equal(headed[:, y : y + 20, x : x + 30], tiles[i])
        if row == 0:
            assert headed[:, 2 : 2 + band, x : x + 30].min() < 0.3  # the column's header
    gap = headed[:, 2 + band + 20 : 2 + band + 22]
    assert torch.equal(gap, torch.ones_like(gap))  # no header between the rows


def test_row_titles_add_a_column_on_the_left():
    tiles = _tiles(4, 16, 16)
    plain = grid(tiles, ncols=2)
    out = grid(tiles, row_titles=["saliency", "grad-cam"])  # ncols = 4 / 2 rows
    assert out.shape[1] == plain.shape[1]
    left = out.shape[2] - plain.shape[2]
    assert left > 30
    for i in range(4):
        row, col = divmod(i, 2)
        y, x = 2 + row * 18, 2 + left + col * 18
        assert torch.equal(out[:, y : y + 16, x : x + 16], tiles[i])
        assert out[:, y : y + 16, 2:left].min() < 0.3  # the row's title


def test_dark_background_gets_white_titles():
    out = grid(_tiles(1, 20, 60), titles=["label"], background=0.0)
    band = out[:, 2:15, 2:62]
    assert band.max() > 0.7 and band.min() == 0.0


def test_sequences_grey_tiles_and_default_columns():
    grey = torch.full((1, 4, 4), 0.25)
    out = grid([grey, torch.zeros(3, 4, 4)], pad=0)
    assert out.shape == (3, 4, 8)
    assert torch.equal(out[:, :, :4], torch.full((3, 4, 4), 0.25))
    assert grid(_tiles(10, 2, 2), pad=0).shape == (3, 4, 16)  # 8 per row by default
    assert grid(torch.zeros(3, 5, 7), pad=0).shape == (3, 5, 7)


def test_long_titles_stay_inside_their_cell():
    tiles = torch.zeros(2, 3, 10, 20)
    out = grid(tiles, titles=["a very long title that cannot fit", "b"], pad=4)
    assert torch.equal(out[:, -14:-4, 28:48], tiles[1])  # the neighbour's pixels are untouched
    assert out[:, :, 48:].min() == 1.0  # nothing spills past the last tile


@settings(max_examples=25, deadline=None)
@given(
    count=st.integers(1, 12),
    ncols=st.integers(1, 6),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    scale=st.integers(1, 3),
    pad=st.integers(0, 4),
)
def test_size_follows_the_formula(count, ncols, height, width, scale, pad):
    out = grid(torch.rand(count, 3, height, width), ncols=ncols, scale=scale, pad=pad)
    rows = -(-count // ncols)
    assert out.shape == (3, pad + rows * (height * scale + pad), pad + ncols * (width * scale + pad))
    last_row, last_col = divmod(count - 1, ncols)
    y, x = pad + last_row * (height * scale + pad), pad + last_col * (width * scale + pad)
    assert out[:, y, x].tolist() != [1.0, 1.0, 1.0]  # the last tile is where the formula puts it


@pytest.mark.parametrize(
    "images, options, match",
    [
        ([torch.zeros(3, 4, 4), torch.zeros(3, 4, 5)], {}, r"same size; image 0 is 4x4 but image 1 is 4x5"),
        ([], {}, "at least one"),
        (torch.zeros(2, 3, 4, 4), {"titles": ["one"]}, "1 titles for 2 images"),
        (torch.zeros(4, 3, 4, 4), {"ncols": 2, "row_titles": ["a"]}, "1 row titles for 2 rows"),
        (torch.zeros(2, 2, 4, 4), {}, r"\(3, h, w\) or \(1, h, w\)"),
        (torch.zeros(2, 3, 4, 4), {"scale": 0}, "scale"),
        (torch.zeros(2, 3, 4, 4), {"scale": 1.5}, "scale"),
        (torch.zeros(2, 3, 4, 4), {"pad": -1}, "pad"),
        (torch.zeros(2, 3, 4, 4), {"background": 2.0}, "background"),
    ],
)
def test_bad_grids_fail_clearly(images, options, match):
    with pytest.raises(InputError, match=match):
        grid(images, **options)


def test_tiles_from_any_device(device):
    tiles = torch.rand(2, 3, 4, 4, device=device)
    out = grid(tiles, pad=0)
    assert out.device.type == "cpu" and torch.equal(out, torch.cat(list(tiles.cpu()), dim=2))
