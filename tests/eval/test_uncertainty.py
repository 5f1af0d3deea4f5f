"""Bootstrap intervals and verdicts: hand-computed cases and a brute-force reference."""

import math

import pytest
import torch

from revelio.eval.outcome import Criterion, Measurement, combine, decide
from revelio.eval.uncertainty import Interval, bootstrap_mean, interval, resample_weights, resampled_means


def test_weights_count_the_draws_of_each_resample():
    weights = resample_weights(7, resamples=50, seed=3)
    assert weights.shape == (50, 7) and torch.all(weights.sum(dim=1) == 7)
    assert torch.equal(weights, resample_weights(7, resamples=50, seed=3))
    assert not torch.equal(weights, resample_weights(7, resamples=50, seed=4))


def test_bootstrap_mean_equals_a_loop_over_explicit_resamples():
    values = torch.tensor([0.1, 0.9, 0.4, 0.3, 0.8, 0.2])
    weights = resample_weights(6, resamples=200, seed=0)
    result = bootstrap_mean(values, weights)
    by_loop = []
    for row in weights:
        drawn = torch.repeat_interleave(values.double(), row.long())
        by_loop.append(float(drawn.mean()))
    low, high = torch.quantile(
        torch.tensor(by_loop, dtype=torch.float64), torch.tensor([0.025, 0.975], dtype=torch.float64)
    )
    assert result.estimate == pytest.approx(float(values.double().mean()))
    assert result.low == pytest.approx(float(low)) and result.high == pytest.approx(float(high))


def test_a_constant_figure_has_a_zero_width_interval_and_nan_is_left_out():
    result = bootstrap_mean(torch.tensor([0.5, 0.5, float("nan"), 0.5]))
    assert (result.estimate, result.low, result.high) == (0.5, 0.5, 0.5)
    assert math.isnan(bootstrap_mean(torch.full((3,), float("nan"))).estimate)


def test_per_group_mean_is_the_mean_of_group_means():
    values = torch.tensor([1.0, 1.0, 1.0, 0.0])  # group 0 scores 1 (three images), group 1 scores 0
    groups = torch.tensor([0, 0, 0, 1])
    assert bootstrap_mean(values, groups=groups).estimate == pytest.approx(0.5)  # not 0.75
    assert bootstrap_mean(values).estimate == pytest.approx(0.75)


def test_resampled_means_pair_rows_on_the_same_draws():
    values = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
    means = resampled_means(values, resample_weights(3, resamples=20, seed=1))
    assert means.shape == (21, 2) and torch.allclose(means[:, 1], 2 * means[:, 0])
    ratio = interval(means[:, 1] / means[:, 0])
    assert (ratio.estimate, ratio.low, ratio.high) == pytest.approx((2.0, 2.0, 2.0))


@pytest.mark.parametrize(
    "low, high, direction, met",
    [
        (0.1, 0.4, "below", True),
        (0.6, 0.9, "below", False),
        (0.4, 0.6, "below", None),
        (0.6, 0.9, "above", True),
        (0.1, 0.4, "above", False),
        (0.4, 0.6, "above", None),
    ],
)
def test_a_criterion_is_inconclusive_when_its_interval_straddles_the_threshold(low, high, direction, met):
    criterion = Criterion("x", Interval((low + high) / 2, low, high), 0.5, direction)
    assert criterion.met is met
    assert f"[{low:.2f}, {high:.2f}]" in criterion.flip()


def test_the_vocabulary():
    inside = Criterion("x", Interval(0.5, 0.4, 0.6), 0.5, "below")
    below = Criterion("y", Interval(0.1, 0.0, 0.2), 0.5, "below")
    above = Criterion("z", Interval(0.9, 0.8, 1.0), 0.5, "below")
    assert combine([below, inside]) is None and combine([below, above, inside]) is False and combine([below]) is True
    inconclusive = Measurement("s", None, criteria=[inside])
    assert decide("pass", inconclusive) == "inconclusive" and decide("fail", inconclusive) == "inconclusive"
    assert decide("report", Measurement("s", True, criteria=[below])) == "no expectation"
    assert decide("fail", Measurement("s", False, criteria=[above])) == "expected fail"
    assert decide("fail", Measurement("s", True, criteria=[below])) == "unexpected pass"
