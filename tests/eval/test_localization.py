"""Localization scores against hand-computed values."""

import pytest
import torch

from revelio.eval import heat, pointing_game, relevance_mass, relevance_rank, scaled_tolerance


def _mask(cells, size=4):
    mask = torch.zeros(size, size, dtype=torch.bool)
    for row, col in cells:
        mask[row, col] = True
    return mask


def test_heat_sums_absolute_channels():
    maps = torch.tensor([[[[1.0, -2.0]], [[-3.0, 0.5]]]])  # (1, 2, 1, 2)
    assert torch.equal(heat(maps), torch.tensor([[[4.0, 2.5]]]))
    assert torch.equal(heat(-maps[:, 0]), torch.tensor([[[1.0, 2.0]]]))


def test_pointing_game_hits_misses_tolerance_and_constant_maps():
    maps = torch.zeros(3, 1, 4, 4)
    maps[0, 0, 1, 1] = 5.0  # inside the mask
    maps[1, 0, 3, 3] = 5.0  # at Euclidean distance sqrt(8) = 2.83 from the mask pixel (1, 1)
    masks = torch.stack([_mask([(1, 1)]), _mask([(1, 1)]), _mask([(1, 1)])])
    assert pointing_game(maps, masks).tolist() == [True, False, False]  # map 2 is constant: a miss
    assert pointing_game(maps, masks, tolerance=2).tolist() == [True, False, False]  # Chebyshev 2 would hit
    assert pointing_game(maps, masks, tolerance=8**0.5).tolist() == [True, False, False]  # strict <, as TorchRay
    assert pointing_game(maps, masks, tolerance=2.9).tolist() == [True, True, False]


def test_pointing_game_is_torchrays_disk():
    """TorchRay's PointingGame.evaluate: a hit when (mask & (dy^2 + dx^2 < tolerance^2)).any(), by hand on a grid."""
    generator = torch.Generator().manual_seed(1)
    masks = torch.rand(50, 12, 12, generator=generator) > 0.93
    maps = torch.rand(50, 12, 12, generator=generator)
    for tolerance in (1.0, 2.5, 4.29):
        expected = []
        for values, mask in zip(maps, masks):
            point = divmod(int(values.flatten().argmax()), 12)
            rows, columns = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
            accept = (rows - point[0]) ** 2 + (columns - point[1]) ** 2 < tolerance**2
            expected.append(bool((mask & accept).any()))
        assert pointing_game(maps, masks, tolerance).tolist() == expected


def test_tolerance_scales_torchrays_15_pixels_at_224():
    assert scaled_tolerance(224, 224) == 15
    assert scaled_tolerance(64, 64) == pytest.approx(15 * 64 / 224)


def test_relevance_mass_is_the_share_inside_the_mask():
    maps = torch.tensor([[[1.0, 3.0], [0.0, -4.0]]])  # heat 1, 3, 0, 4: total 8
    masks = torch.tensor([[[False, True], [False, True]]])
    assert relevance_mass(maps, masks).tolist() == [pytest.approx(7 / 8)]
    assert relevance_mass(torch.zeros(1, 2, 2), masks).tolist() == [0.0]


def test_relevance_rank_counts_the_mask_sized_top():
    maps = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
    masks = torch.tensor([[[True, False], [True, False]]])  # K = 2: top-2 pixels are (0,0), (0,1)
    assert relevance_rank(maps, masks).tolist() == [0.5]
    assert relevance_rank(maps, ~masks).tolist() == [0.5]
    assert relevance_rank(maps, torch.tensor([[[True, True], [False, False]]])).tolist() == [1.0]


def test_a_random_map_scores_near_the_mask_share():
    generator = torch.Generator().manual_seed(0)
    maps = torch.rand(400, 1, 16, 16, generator=generator)
    masks = torch.zeros(400, 16, 16, dtype=torch.bool)
    masks[:, :4, :] = True  # a quarter of every image
    assert relevance_mass(maps, masks).mean().item() == pytest.approx(0.25, abs=0.01)
    assert relevance_rank(maps, masks).mean().item() == pytest.approx(0.25, abs=0.02)
    assert pointing_game(maps, masks).float().mean().item() == pytest.approx(0.25, abs=0.06)


@pytest.mark.parametrize(
    "maps, masks, match",
    [
        (torch.zeros(1, 1, 4, 4), torch.zeros(1, 5, 5, dtype=torch.bool), "upsample the maps"),
        (torch.zeros(1, 1, 4, 4), torch.zeros(1, 4, 4), "boolean"),
        (torch.zeros(4, 4), torch.zeros(4, 4, dtype=torch.bool), r"\(N, C, H, W\)"),
    ],
)
def test_bad_shapes_and_dtypes_say_what_to_do(maps, masks, match):
    with pytest.raises(ValueError, match=match):
        relevance_mass(maps, masks)


def test_class_discrimination_is_the_mass_difference():
    from revelio.eval import class_discrimination

    maps = torch.tensor([[[3.0, 1.0], [0.0, 0.0]]])  # 3/4 of the heat on the left object
    left = torch.tensor([[[True, False], [False, False]]])
    right = torch.tensor([[[False, True], [False, False]]])
    assert class_discrimination(maps, left, right).tolist() == [pytest.approx(0.5)]
    assert class_discrimination(maps, right, left).tolist() == [pytest.approx(-0.5)]


def test_baselines_point_at_the_centre_and_at_random():
    from revelio.eval import centre_baseline, random_baseline

    centre = centre_baseline(2, 9, 9)
    assert centre.shape == (2, 9, 9) and centre[0].argmax().item() == 4 * 9 + 4
    middle = torch.zeros(1, 9, 9, dtype=torch.bool)
    middle[0, 4, 4] = True
    assert pointing_game(centre[:1], middle).tolist() == [True]
    noise = random_baseline(3, 5, 5, seed=1)
    assert noise.shape == (3, 5, 5) and torch.equal(noise, random_baseline(3, 5, 5, seed=1))
