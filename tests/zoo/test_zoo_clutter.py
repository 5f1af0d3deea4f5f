"""The clutter task: deterministic items, masks of the visible pixels, distractors never labelled, a shipped model."""

from importlib import resources

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revelio import zoo
from revelio.attribution.controls import EdgeDetector
from revelio.errors import InputError, WeightsError
from revelio.eval.localization import relevance_mass
from revelio.zoo import ShapesCNN, clutter, load, shapes
from revelio.zoo.clutter import (
    CLASS_NAMES,
    DISTRACTOR_NAMES,
    MEAN,
    MIN_VISIBLE_FRACTION,
    SHAPE_FUNCTIONS,
    STD,
    ClutterDataset,
    layout,
    make_batch,
    normalize,
    render,
)
from revelio.zoo.geometry import footprints
from revelio.zoo.tasks import get_task
from revelio.zoo.train import evaluate

N = 300  # more than one internal chunk of 256 items


@pytest.fixture(scope="module")
def batch():
    return make_batch(N, seed=11)


@pytest.fixture(scope="module")
def objects(batch):
    """Each object's whole footprint ``(N, 7, 64, 64)`` and the drawing ranks, from the layout."""
    where = layout(11, range(N))
    inside = footprints(where.shapes, where.centres, where.radii, where.angles, 64, SHAPE_FUNCTIONS)
    return torch.from_numpy(inside), torch.from_numpy(where.ranks), torch.from_numpy(where.shapes)


def _equal(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_same_seed_same_images_and_different_seed_different_images():
    first, again, other = make_batch(8, 3), make_batch(8, 3), make_batch(8, 4)
    assert _equal(first, again)
    assert (first.images - other.images).abs().mean() > 0.1


def test_item_k_of_a_batch_is_item_start_plus_k_of_the_dataset(batch):
    dataset = ClutterDataset(N, seed=11)
    for index in [0, 7, 255, 256, 299]:  # either side of the internal chunk boundary
        assert _equal(dataset[index], batch.sample(index))
    assert _equal(render(11, [260, 2, 260]), [t[[260, 2, 260]] for t in batch])
    assert _equal(make_batch(4, seed=11, start=254), [t[254:258] for t in batch])
    assert _equal(dataset[-1], batch.sample(N - 1))


def test_types_shapes_and_range(batch):
    assert batch.images.shape == (N, 3, 64, 64) and batch.images.dtype == torch.float32
    assert batch.labels.shape == (N, 6) and batch.masks.shape == (N, 3, 64, 64) and batch.masks.dtype == torch.bool
    assert batch.classes.shape == (N, 3) and batch.classes.dtype == torch.int64
    assert batch.distractors.shape == (N, 64, 64) and batch.distractors.dtype == torch.bool
    assert 0 <= batch.images.min() and batch.images.max() <= 1


def test_three_labelled_objects_of_distinct_classes_and_four_distractors_in_every_image(batch, objects):
    _, _, kinds = objects
    assert torch.equal(batch.labels.sum(dim=1), torch.full((N,), 3.0))
    assert all(len(set(row.tolist())) == 3 for row in batch.classes)
    assert (batch.labels.gather(1, batch.classes) == 1).all()
    assert torch.equal(kinds[:, :3], batch.classes)
    # Distractors are of the distractor classes, four different ones, never one of the labels.
    assert kinds.shape[1] == 7
    assert ((kinds[:, 3:] >= len(CLASS_NAMES)) & (kinds[:, 3:] < len(CLASS_NAMES) + len(DISTRACTOR_NAMES))).all()
    assert all(len(set(row.tolist())) == 4 for row in kinds[:, 3:])
    assert batch.masks.flatten(2).any(-1).all() and batch.distractors.flatten(1).any(-1).all()
    # Every class is labelled about as often (3 in 6 images), every distractor drawn about as often (4 in 5).
    assert ((batch.labels.mean(dim=0) - 0.5).abs() < 0.1).all(), batch.labels.mean(dim=0)
    drawn = torch.stack([(kinds[:, 3:] == 6 + d).any(dim=1) for d in range(5)], dim=1).float().mean(dim=0)
    assert ((drawn - 4 / 5).abs() < 0.1).all(), drawn


def test_masks_are_the_visible_pixels_occluders_excluded(batch, objects):
    inside, ranks, _ = objects
    # Reference: an object's visible pixels are its footprint minus the footprints of the objects drawn after it.
    later = ranks[:, None, :] > ranks[:, :, None]  # (N, object, other): other is drawn over object
    covering = (inside[:, None] & later[..., None, None]).any(dim=2)
    visible = inside & ~covering
    assert torch.equal(batch.masks, visible[:, :3])
    assert torch.equal(batch.distractors, visible[:, 3:].any(dim=1))
    # Occlusion happens: in many images a labelled object loses pixels to another object, and its
    # mask then holds none of the occluder's pixels.
    occluded = (inside[:, :3] & ~batch.masks).flatten(2).any(-1)
    assert 0.2 < occluded.any(dim=1).float().mean() < 0.95, occluded.any(dim=1).float().mean()
    occluders = inside[:, None] & later[:, :3, :, None, None]  # (N, 3, 7, H, W)
    assert not (occluders & batch.masks[:, :, None]).any()
    # Masks and distractor pixels never share a pixel.
    assert not (batch.masks.sum(dim=1) > 1).any()
    assert not (batch.masks.any(dim=1) & batch.distractors).any()


def test_every_object_keeps_at_least_30_percent_visible(batch, objects):
    inside, ranks, _ = objects
    later = ranks[:, None, :] > ranks[:, :, None]
    visible = inside & ~(inside[:, None] & later[..., None, None]).any(dim=2)
    fraction = visible.flatten(2).sum(-1) / inside.flatten(2).sum(-1)
    assert fraction.min() >= MIN_VISIBLE_FRACTION, fraction.min()
    assert MIN_VISIBLE_FRACTION == 0.3


def _detail(images: torch.Tensor) -> torch.Tensor:
    """Mean |3x3 blur - 9x9 blur of it| per pixel ``(N, H, W)``: structure at 2-8 px, pixel noise mostly averaged out."""
    blurred = F.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
    return (blurred - F.avg_pool2d(blurred, 9, stride=1, padding=4, count_include_pad=False)).abs().mean(dim=1)


def test_background_and_objects_are_textured(batch):
    # The background is not smooth: it has far more structure than the shapes task's.
    background = ~(batch.masks.any(dim=1) | batch.distractors)
    smooth = shapes.make_batch(N, seed=11)
    smooth_background = ~smooth.masks.any(dim=1)
    detail = _detail(batch.images)[background].mean()
    assert detail > 1.3 * _detail(smooth.images)[smooth_background].mean()
    # Objects hold two colours: their pixels spread far more than the noise around one colour.
    for k in range(3):
        mask = batch.masks[:, k, None].float()
        mean = (batch.images * mask).sum(dim=(2, 3)) / mask.sum(dim=(2, 3))
        spread = ((batch.images - mean[..., None, None]) ** 2 * mask).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3))
        assert spread.sqrt().median() > 0.06, spread.sqrt().median()


def test_an_edge_map_scores_lower_on_clutter_than_on_shapes(batch):
    """The task's point: a model-free edge map no longer lands on the asked object by itself."""

    def edge_mass(task_batch) -> float:
        edges = EdgeDetector(torch.nn.Identity()).attribute(task_batch.images)[:, 0]
        k = task_batch.masks.shape[1]
        return float(relevance_mass(edges.repeat_interleave(k, dim=0), task_batch.masks.flatten(0, 1)).mean())

    clutter_mass = edge_mass(batch)
    shapes_mass = edge_mass(shapes.make_batch(N, seed=11))
    assert clutter_mass < 0.6 * shapes_mass, (clutter_mass, shapes_mass)  # 0.41x when written


def test_normalisation_constants_match_the_data(batch):
    mean, std = batch.images.mean(dim=(0, 2, 3)), batch.images.std(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.tensor(MEAN), atol=0.02), mean
    assert torch.allclose(std, torch.tensor(STD), atol=0.02), std
    assert (normalize(batch.images).std() - 1).abs() < 0.15


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63 - 1), start=st.integers(0, 2**40), n=st.integers(1, 4))
def test_every_item_has_three_visible_labelled_objects_and_a_visible_distractor(seed, start, n):
    batch = make_batch(n, seed, start)
    assert batch.masks.flatten(2).any(-1).all() and batch.distractors.flatten(1).any(-1).all()
    assert (batch.labels.sum(dim=1) == 3).all()
    assert torch.equal(batch.images[-1], ClutterDataset(start + n, seed)[start + n - 1].image)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed_is_refused(seed):
    with pytest.raises(InputError, match="seed"):
        make_batch(1, seed)


def test_bad_indices_are_refused():
    with pytest.raises(InputError, match=">= 0"):
        render(0, [3, -1])
    with pytest.raises(IndexError):
        ClutterDataset(3)[3]


def test_distractor_shapes_fit_in_the_unit_circle_and_differ_from_the_classes():
    grid = np.linspace(-1.2, 1.2, 241, dtype=np.float32)
    x, y = np.meshgrid(grid, grid)
    outside = x * x + y * y > 1.0
    areas = []
    for shape in SHAPE_FUNCTIONS:
        inside = shape(x, y)
        assert not (inside & outside).any(), shape.__name__
        areas.append(inside)
    for d in range(6, 11):  # no distractor covers the same points as a class at the same pose
        for c in range(6):
            assert (areas[d] ^ areas[c]).mean() > 0.05, (SHAPE_FUNCTIONS[d].__name__, SHAPE_FUNCTIONS[c].__name__)


# -- the shipped model ---------------------------------------------------------------------------------

WEIGHTS = resources.files("revelio.zoo").joinpath("weights", "clutter_cnn.pt")


def test_the_task_is_registered_with_its_model():
    task = get_task("clutter")
    assert task.model == "clutter" and task.make_batch is make_batch and task.class_names == CLASS_NAMES
    assert task.test_seed == 2


def test_the_weights_are_under_a_megabyte_and_load_with_weights_only():
    assert WEIGHTS.is_file(), (
        "revelio/zoo/weights/clutter_cnn.pt is missing: python -m revelio.zoo.train --model clutter"
    )
    with WEIGHTS.open("rb") as file:
        data = file.read()
    assert len(data) < 1024 * 1024
    with WEIGHTS.open("rb") as file:
        ShapesCNN().load_state_dict(torch.load(file, map_location="cpu", weights_only=True))


def test_load_gives_the_clutter_model_with_its_metadata():
    zoo_model = load("clutter")
    assert isinstance(zoo_model.model, ShapesCNN) and not zoo_model.model.training
    assert zoo_model.class_names == CLASS_NAMES and zoo_model.gradcam_layer == "block3" and zoo_model.multi_label
    assert (zoo_model.mean, zoo_model.std, zoo_model.input_size) == (clutter.MEAN, clutter.STD, (64, 64))


def test_the_shipped_model_reads_held_out_images():
    model = load("clutter").model
    label_accuracy, _ = evaluate(model, 300, get_task("clutter").test_seed, task_of="clutter")
    assert label_accuracy >= 0.94, label_accuracy  # 0.956 when the weights were made


def test_missing_weights_say_how_to_remake_them(monkeypatch):
    monkeypatch.setattr(zoo, "CLUTTER_WEIGHTS", "gone.pt")
    with pytest.raises(WeightsError, match="python -m revelio.zoo.train --model clutter"):
        load("clutter")
