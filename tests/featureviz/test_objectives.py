"""Objectives: values computed by hand, composition, layer resolution and index checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from revelio import errors
from revelio.core import LayerCapture, resolve_layer
from revelio.errors import LayerNotFoundError
from revelio.featureviz import (
    ActivationMaximization,
    UnitIndexError,
    channel,
    class_logit,
    deepdream,
    direction,
    diversity,
    interpolate,
    neuron,
)
from revelio.featureviz.objectives import OUTPUT, Scaled, Sum

ACT = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)  # (N=2, K=3, 2, 2)


def test_channel_is_the_mean_over_positions():
    values = channel("c", 1)({"c": ACT})
    torch.testing.assert_close(values, ACT[:, 1].mean(dim=(1, 2)))


def test_a_list_of_channels_gives_image_i_unit_i():
    values = channel("c", [2, 0])({"c": ACT})
    torch.testing.assert_close(values, torch.stack([ACT[0, 2].mean(), ACT[1, 0].mean()]))
    assert channel("c", [2, 0]).num_images == 2 and channel("c", 2).num_images is None


def test_a_list_of_units_needs_one_image_per_unit():
    with pytest.raises(ValueError, match="one image per unit"):
        channel("c", [0, 1, 2])({"c": ACT})


def test_channel_on_a_linear_output_is_the_unit():
    linear = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    torch.testing.assert_close(channel("fc", 2)({"fc": linear}), torch.tensor([3.0, 6.0]))


def test_neuron_reads_one_position_default_centre():
    act = torch.randn(2, 3, 5, 4)
    torch.testing.assert_close(neuron("c", 1)({"c": act}), act[:, 1, 2, 2])
    torch.testing.assert_close(neuron("c", 1, (0, 3))({"c": act}), act[:, 1, 0, 3])
    torch.testing.assert_close(neuron("c", [1, 2], (4, 0))({"c": act}), torch.stack([act[0, 1, 4, 0], act[1, 2, 4, 0]]))
    linear = torch.randn(2, 7)
    torch.testing.assert_close(neuron("fc", 6)({"fc": linear}), linear[:, 6])


def test_class_logit_reads_the_model_output():
    logits = torch.randn(3, 5)
    objective = class_logit([4, 0, 2])
    assert objective.layers == (OUTPUT,)
    torch.testing.assert_close(objective({OUTPUT: logits}), logits[torch.arange(3), torch.tensor([4, 0, 2])])


@pytest.mark.parametrize(
    ("reduction", "expected"),
    [
        ("mean_square", lambda a: a.flatten(1).square().mean(1)),
        ("l2", lambda a: a.flatten(1).norm(dim=1)),
        ("mean", lambda a: a.flatten(1).mean(1)),
    ],
)
def test_deepdream_reductions(reduction, expected):
    torch.testing.assert_close(deepdream("c", reduction)({"c": ACT}), expected(ACT))


def test_objectives_add_subtract_and_scale():
    acts = {"c": ACT, "fc": torch.tensor([[1.0, 2.0], [3.0, 4.0]])}
    a, b, c = channel("c", 0), channel("fc", 1), deepdream("c")
    combined = a + 2 * b - c / 4
    expected = a(acts) + 2 * b(acts) - c(acts) / 4
    torch.testing.assert_close(combined(acts), expected)
    torch.testing.assert_close((-a)(acts), -a(acts))
    torch.testing.assert_close(sum([a, b, c])(acts), a(acts) + b(acts) + c(acts))
    assert set(combined.layers) == {"c", "fc"}
    assert isinstance(combined, Sum) and isinstance(3 * (2 * a), Scaled) and (3 * (2 * a)).scale == 6


def test_sums_of_unit_lists_must_agree_in_length():
    assert (channel("c", [0, 1]) + channel("fc", 3)).num_images == 2
    assert (channel("c", [0, 1]) + channel("fc", [3, 4])).num_images == 2
    with pytest.raises(ValueError, match="same length"):
        channel("c", [0, 1]) + channel("fc", [0, 1, 2])


def test_labels_describe_each_image():
    assert channel("features.6", [3, 4]).labels(2) == ("features.6:channel 3", "features.6:channel 4")
    assert str(channel("features.6", 3)) == "features.6:channel 3"
    assert class_logit(1).labels(1) == ("output:class 1",)
    assert str(channel("a", 1) - 0.5 * deepdream("b")) == "a:channel 1 - 0.5 * b:mean_square"


@pytest.mark.parametrize(
    ("unit", "error", "match"),
    [
        (-1, UnitIndexError, ">= 0"),
        ([], ValueError, "empty"),
        (1.5, TypeError, "integer"),
        ([1, "2"], TypeError, "integers"),
        (True, TypeError, "bool"),
    ],
)
def test_bad_unit_specs_fail_at_construction(unit, error, match):
    with pytest.raises(error, match=match):
        channel("c", unit)


def test_unit_index_error_is_both_value_and_index_error():
    assert issubclass(UnitIndexError, ValueError) and issubclass(UnitIndexError, IndexError)
    assert issubclass(UnitIndexError, errors.RevelioError)


def test_unit_index_error_lives_in_revelio_errors_and_is_re_exported():
    from revelio.featureviz import objectives

    assert UnitIndexError is errors.UnitIndexError is objectives.UnitIndexError


def test_checks_against_the_layer_shape():
    shapes = {"c": (1, 3, 4, 4), "fc": (1, 10), OUTPUT: (1, 10)}
    channel("c", 2).check(shapes)
    with pytest.raises(UnitIndexError, match=r"channel 3 is out of range .* 3 channels .* 0\.\.2"):
        channel("c", [0, 3]).check(shapes)
    with pytest.raises(UnitIndexError, match="outside"):
        neuron("c", 0, (4, 0)).check(shapes)
    with pytest.raises(ValueError, match="2 spatial axes"):
        neuron("c", 0, (1,)).check(shapes)
    with pytest.raises(ValueError, match="0 spatial axes"):
        neuron("fc", 0, (1, 1)).check(shapes)
    with pytest.raises(UnitIndexError, match="class 10"):
        class_logit(10).check(shapes)
    with pytest.raises(ValueError, match="not \\(N, classes\\)"):
        class_logit(0, layer="c").check(shapes)


def test_resolve_turns_modules_into_dotted_names_and_checks_names():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), nn.Conv2d(4, 2, 1)))
    resolved = (channel(model[1][1], 0) + deepdream("0")).resolve(model)
    assert resolved.layers == ("1.1", "0")
    with pytest.raises(LayerNotFoundError, match="closest names"):
        channel("1.2", 0).resolve(model)
    with pytest.raises(LayerNotFoundError, match="not part of the model"):
        channel(nn.Conv2d(3, 4, 3), 0).resolve(model)


def test_objective_sees_the_true_layer_output_before_an_inplace_relu(cnn):
    # cnn's "0" is a conv followed by nn.ReLU(inplace=True): its true output has negatives,
    # and the forward runs past it (to "3"), so the in-place ReLU does run after it.
    am = ActivationMaximization(cnn, image_size=16, mean=None, std=None)
    start = torch.rand(1, 3, 16, 16)
    result = am.visualize(channel("0", 5) + channel(cnn[3], 1), steps=1, start=start)
    with torch.no_grad():
        conv0 = cnn[0](start)
        expected = conv0[:, 5].mean() + cnn[3](cnn[2](torch.relu(conv0)))[:, 1].mean()
    assert conv0[:, 5].min() < 0  # so a rectified value would differ
    torch.testing.assert_close(result.history[0, 0], expected)


# -- one argument order; direction -------------------------------------------------------------------


def test_every_objective_takes_the_layer_first_and_class_logit_names_it():
    assert channel("c", 2).layer == "c" and neuron("c", 2).layer == "c"
    assert class_logit(3, layer="fc").layer == "fc" and class_logit(3).layer == OUTPUT
    with pytest.raises(TypeError):
        class_logit(3, "fc")  # the layer is a keyword: a positional second argument is refused
    from revelio.featureviz import ClassLogit, Direction

    assert ClassLogit("fc", 3).units == (3,) and Direction("c", [1.0, 0.0, 0.0]).layer == "c"


def test_direction_is_the_mean_projection_on_the_unit_vector():
    vector = torch.tensor([1.0, -2.0, 2.0])
    values = direction("c", vector)({"c": ACT})
    expected = torch.einsum("nkhw,k->nhw", ACT, vector / 3.0).mean(dim=(1, 2))
    torch.testing.assert_close(values, expected)
    # a one-hot direction is the channel
    torch.testing.assert_close(direction("c", [0.0, 5.0, 0.0])({"c": ACT}), channel("c", 1)({"c": ACT}))
    # one direction per image: a batch
    per_image = direction("fc", [[1.0, 0.0], [0.0, 1.0]])
    linear = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert per_image.num_images == 2
    torch.testing.assert_close(per_image({"fc": linear}), torch.tensor([1.0, 4.0]))


@pytest.mark.parametrize(
    ("vector", "error", "match"),
    [
        ([0.0, 0.0, 0.0], errors.SettingError, "must not be zero"),
        ([[1.0]], None, None),
        ([1, 2, 3], errors.SettingError, "float"),
        ([float("nan"), 1.0, 1.0], errors.SettingError, "NaN"),
        ("north", errors.SettingTypeError, "tensor or a list"),
    ],
)
def test_direction_refuses_bad_vectors(vector, error, match):
    if error is None:
        direction("c", vector)
        return
    with pytest.raises(error, match=match):
        direction("c", vector)


def test_direction_is_checked_against_the_layer():
    with pytest.raises(errors.SettingError, match="has 3 channels but the vector has 2"):
        direction("c", [1.0, 0.0]).check({"c": (1, 3, 4, 4)})


# -- diversity and interpolation --------------------------------------------------------------------------


def test_diversity_is_minus_the_mean_cosine_similarity_of_gram_matrices_computed_by_hand():
    acts = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(0))
    grams = [a.flatten(1) @ a.flatten(1).T / 25 for a in acts]

    def cosine(a, b):
        return float((a * b).sum() / (a.norm() * b.norm()))

    expected = [-(sum(cosine(grams[i], grams[j]) for j in range(3) if j != i) / 2) for i in range(3)]
    torch.testing.assert_close(diversity("c")({"c": acts}), torch.tensor(expected), atol=1e-6, rtol=1e-6)
    assert float(diversity("c")({"c": acts[:1]})) == 0.0
    assert diversity("c").labels(2) == ("c:diversity", "c:diversity")


def test_diversity_pushes_the_images_of_one_unit_apart(cnn):
    am = ActivationMaximization(cnn, image_size=24)

    def similarity(result):  # mean pairwise Gram cosine similarity at layer "3": minus the mean diversity value
        with torch.no_grad(), LayerCapture([resolve_layer(cnn, "3")], stop=True) as capture:
            capture.forward(cnn, result.images)
        return -float(diversity("3")({"3": capture["3"]}).mean())

    alone = am.visualize(channel("6", 3), steps=24, seed=[5, 6, 7])
    apart = am.visualize(channel("6", 3) + 20.0 * diversity("3"), steps=24, seed=[5, 6, 7])
    assert similarity(apart) < similarity(alone) - 0.05


def test_interpolation_weights_go_from_start_to_end():
    acts = {"c": torch.randn(4, 3, 2, 2)}
    a, b = channel("c", 0), channel("c", 2)
    values = interpolate(a, b, 4)(acts)
    t = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0])
    torch.testing.assert_close(values, (1 - t) * a(acts) + t * b(acts))
    objective = interpolate(a, b, 4)
    assert objective.num_images == 4 and set(objective.layers) == {"c"}
    assert objective.labels(4)[0] == "1.00 c:channel 0 + 0.00 c:channel 2"
    assert objective.units_needed("c") == (0, 2)
    with pytest.raises(errors.SettingError, match="n must be an integer >= 2"):
        interpolate(a, b, 1)
    with pytest.raises(errors.SettingError, match="needs one unit"):
        interpolate(channel("c", [0, 1]), b, 4)


def test_an_interpolation_runs_as_one_batch(cnn):
    result = ActivationMaximization(cnn, image_size=16).visualize(
        interpolate(channel("6", 0), channel("6", 1), 3), steps=4, seed=[2, 2, 2]
    )
    assert result.images.shape == (3, 3, 16, 16) and len(result.units) == 3
