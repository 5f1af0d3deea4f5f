"""resolve_target and Target.scores: every target form, and every bad one."""

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from revelio.core import Target, resolve_target
from revelio.errors import RevelioError, TargetError

# A fixed (3, 4) logits tensor: top classes are 2, 0, 3.
LOGITS = torch.tensor(
    [
        [0.5, -1.0, 2.0, 1.0],
        [3.0, 0.0, -2.0, 1.5],
        [-1.0, 0.25, 0.0, 4.0],
    ],
    dtype=torch.float64,
)


def _scores(target, output=LOGITS):
    return resolve_target(target, output.shape[0]).scores(output)


def test_target_error_is_a_value_error():
    assert issubclass(TargetError, ValueError)
    assert issubclass(TargetError, RevelioError)


def test_none_is_the_top_class_per_example():
    scores, classes = _scores(None)
    assert classes.tolist() == [2, 0, 3]
    assert scores.tolist() == [2.0, 3.0, 4.0]


def test_int_is_that_class_for_every_example():
    scores, classes = _scores(1)
    assert classes.tolist() == [1, 1, 1]
    assert scores.tolist() == [-1.0, 0.0, 0.25]


@pytest.mark.parametrize(
    "target",
    [
        [3, 0, 1],
        (3, 0, 1),
        np.array([3, 0, 1]),
        np.array([3, 0, 1], dtype=np.int32),
        [np.int64(3), np.int16(0), 1],
        torch.tensor([3, 0, 1]),
        torch.tensor([3, 0, 1], dtype=torch.int32),
        torch.tensor([3, 0, 1], dtype=torch.uint8),
    ],
)
def test_one_class_per_example(target):
    scores, classes = _scores(target)
    assert classes.dtype == torch.long
    assert classes.tolist() == [3, 0, 1]
    assert scores.tolist() == [1.0, 3.0, 0.25]


@pytest.mark.parametrize(
    "target", [2, np.int64(2), torch.tensor(2), torch.tensor(2, dtype=torch.int32), np.array(2)]
)
def test_scalar_forms_broadcast(target):
    scores, classes = _scores(target)
    assert classes.tolist() == [2, 2, 2]
    assert scores.tolist() == [2.0, -2.0, 0.0]


def test_range_is_a_sequence():
    scores, classes = _scores(range(1, 4))
    assert classes.tolist() == [1, 2, 3]
    assert scores.tolist() == [-1.0, -2.0, 4.0]


def test_scores_keep_the_graph_and_dtype():
    logits = LOGITS.clone().requires_grad_(True)
    scores, _ = resolve_target([3, 0, 1], 3).scores(logits)
    assert scores.dtype == torch.float64
    (grad,) = torch.autograd.grad(scores.sum(), logits)
    expected = torch.zeros_like(LOGITS)
    expected[0, 3] = expected[1, 0] = expected[2, 1] = 1
    assert torch.equal(grad, expected)


def test_callable_on_a_dict_output():
    output = {"logits": LOGITS, "aux": LOGITS * 10}
    target = resolve_target(lambda out: out["logits"][:, 3], 3)
    scores, classes = target.scores(output)
    assert classes is None
    assert scores.tolist() == [1.0, 1.5, 4.0]


def test_callable_on_a_segmentation_output_summed_over_a_mask():
    seg = torch.arange(2 * 3 * 2 * 2, dtype=torch.float64).reshape(2, 3, 2, 2)  # (N, classes, H, W)
    mask = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    target = resolve_target(lambda out: (out[:, 1] * mask).sum(dim=(1, 2)), 2)
    scores, classes = target.scores(seg)
    # Example 0, class 1: values 4..7, mask picks 4 and 7; example 1: 16..19 -> 16 + 19.
    assert scores.tolist() == [11.0, 35.0]
    assert classes is None


def test_callable_on_a_tuple_output():
    target = resolve_target(lambda out: out[1].sum(dim=1), 3)
    scores, _ = target.scores((None, LOGITS))
    assert scores.tolist() == [2.5, 2.5, 3.25]


def test_empty_batch():
    scores, classes = resolve_target([], 0).scores(torch.zeros(0, 4))
    assert scores.shape == (0,) and classes.shape == (0,)
    scores, classes = resolve_target(None, 0).scores(torch.zeros(0, 4))
    assert scores.shape == (0,)


@pytest.mark.parametrize(
    ("target", "batch_size", "error", "match"),
    [
        ([1, 2], 3, TargetError, "target has classes for 2 examples in a batch of 3"),
        ((1, 2, 3, 0), 3, TargetError, "give one class (or one row of classes) per example"),
        (torch.tensor([1, 2]), 3, TargetError, "target has classes for 2 examples in a batch of 3"),
        (np.array([0, 1, 2, 3]), 3, TargetError, "target has classes for 4 examples"),
        (-1, 3, TargetError, "target classes must be >= 0, got -1"),
        ([0, -2, 1], 3, TargetError, "must be >= 0, got -2"),
        (torch.tensor([0, 1, -5]), 3, TargetError, "must be >= 0, got -5"),
        ([[0, 1], [2, -5], [0, 0]], 3, TargetError, "must be >= 0, got -5"),
        (torch.tensor([0.0, 1.0, 2.0]), 3, TargetError, "integer class indices, got a tensor of torch.float32"),
        (torch.tensor(1.0), 3, TargetError, "integer class indices"),
        (np.array([0.5, 1.0, 2.0]), 3, TargetError, "integer class indices, got a tensor of torch.float64"),
        (torch.tensor([True, False, True]), 3, TargetError, "got a tensor of torch.bool"),
        (True, 3, TargetError, "target must be None, an int, one int per example, K ints per example, 'topK', or a "
         "callable, got bool"),
        ("cat", 3, TargetError, "a string target must be 'topK' with K >= 1 ('top5'), got 'cat'"),
        ("top0", 3, TargetError, "'topK' with K >= 1"),
        ("top-2", 3, TargetError, "'topK' with K >= 1"),
        (b"ab", 2, TargetError, "got bytes"),
        (1.0, 3, TargetError, "got float"),
        ({0: 1}, 1, TargetError, "got dict"),
        ([0, 1.0, 2], 3, TargetError, "target classes must be integers, got 1.0 (float)"),
        ([0, True, 2], 3, TargetError, "target classes must be integers, got True (bool)"),
        ([0, "1", 2], 3, TargetError, "got '1' (str)"),
        ([[0], [1, 2], [2]], 3, TargetError, "the same number K >= 1 for every example, got lengths [1, 2, 1]"),
        ([[], [], []], 3, TargetError, "K >= 1"),
        ([[0.5], [1], [2]], 3, TargetError, "must be integers"),
        (torch.tensor([[0, 1, 2]]), 3, TargetError, "classes for 1 examples in a batch of 3"),
        (torch.zeros(3, 2, 2, dtype=torch.long), 3, TargetError, "K classes per example (N, K), got shape (3, 2, 2)"),
    ],
)
def test_bad_targets_fail_before_any_work(target, batch_size, error, match):
    with pytest.raises(error, match=re.escape(match)):
        resolve_target(target, batch_size)


@pytest.mark.parametrize(
    ("target", "output", "match"),
    [
        (4, LOGITS, "target class 4 is out of range for a model with 4 classes; use a class in 0..3"),
        ([0, 9, 1], LOGITS, "target class 9 is out of range"),
        (torch.tensor([0, 1, 7]), LOGITS, "use a class in 0..3"),
        (1, {"logits": LOGITS}, "returned a dict, not a logits tensor; pass a callable target"),
        (None, (LOGITS,), "returned a tuple, not a logits tensor; pass a callable target"),
        (1, LOGITS[:, :, None], r"shape \(N, classes\) with N=3, got \(3, 4, 1\); pass a callable target"),
        (None, LOGITS[:, 0], r"got \(3,\); pass a callable"),
        (1, LOGITS[:2], r"N=3, got \(2, 4\)"),
        (lambda out: out, LOGITS, r"tensor of shape \(3,\), got \(3, 4\); reduce each example's output"),
        (lambda out: out[:, :1], LOGITS, r"got \(3, 1\)"),
        (lambda out: out[:2, 0], LOGITS, r"got \(2,\)"),
        (lambda out: out.sum(), LOGITS, r"got \(\)"),
        (lambda out: [1.0, 2.0, 3.0], LOGITS, "got list"),
        (lambda out: None, LOGITS, "got NoneType"),
        (lambda out: out.argmax(dim=1), LOGITS, "floating-point scores, got torch.int64"),
        (lambda out: out[:, 0] > 0, LOGITS, "floating-point scores, got torch.bool"),
    ],
)
def test_targets_that_do_not_fit_the_output(target, output, match):
    resolved = resolve_target(target, 3)
    with pytest.raises(TargetError, match=match):
        resolved.scores(output)


def test_target_is_immutable():
    target = resolve_target(1, 3)
    with pytest.raises(AttributeError):
        target.batch_size = 4  # type: ignore[misc]
    assert isinstance(target, Target)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    batch_size=st.integers(1, 6),
    num_classes=st.integers(1, 7),
    form=st.sampled_from(["none", "int", "list", "tuple", "numpy", "tensor", "tensor0d", "callable"]),
)
def test_scores_match_plain_indexing(data, batch_size, num_classes, form):
    logits = torch.randn(batch_size, num_classes, dtype=torch.float64)
    classes = data.draw(st.lists(st.integers(0, num_classes - 1), min_size=batch_size, max_size=batch_size))
    if form in {"int", "tensor0d"}:
        classes = [classes[0]] * batch_size
    target = {
        "none": None,
        "int": classes[0],
        "list": classes,
        "tuple": tuple(classes),
        "numpy": np.array(classes),
        "tensor": torch.tensor(classes, dtype=torch.int32),
        "tensor0d": torch.tensor(classes[0]),
        "callable": lambda out: out[range(batch_size), classes],
    }[form]
    if form == "none":
        classes = [max(range(num_classes), key=lambda k: logits[i, k].item()) for i in range(batch_size)]
    expected = [logits[i, c].item() for i, c in enumerate(classes)]
    scores, used = resolve_target(target, batch_size).scores(logits)
    assert scores.tolist() == expected
    if form == "callable":
        assert used is None
    else:
        assert used.tolist() == classes


@pytest.mark.parametrize("target", [None, 2, [3, 0, 1], torch.tensor([3, 0, 1], dtype=torch.int32)])
def test_scores_on_the_outputs_device(target, device):
    logits = LOGITS.to(device)
    scores, classes = resolve_target(target, 3).scores(logits)
    assert scores.device == logits.device and classes.device == logits.device
    expected, _ = resolve_target(target, 3).scores(LOGITS)
    assert scores.cpu().tolist() == expected.tolist()
