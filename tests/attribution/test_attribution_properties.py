"""Properties over batch sizes, image sizes, target forms and dtypes (hypothesis).

For every registered method (:data:`method_registry.METHODS`): the output has the documented
shape, is finite, stays on the input's device in the input's dtype, and attributing a
batch equals attributing each example alone.
"""

from __future__ import annotations

import functools

import pytest
import torch
from attribution_nets import SmallCNN, small_cnn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from method_registry import METHODS

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TARGET_FORMS = ["none", "int", "list", "tensor", "callable"]


@functools.cache
def _model(dtype_name: str, device: str) -> SmallCNN:
    # no BatchNorm, so that eval/train cannot matter; one in-place nn.ReLU, one F.relu
    return small_cnn(DTYPES[dtype_name], device, seed=3, batchnorm=False)


def _margin(out: torch.Tensor) -> torch.Tensor:
    return out[:, 2] - out[:, 0]


def _target(form: str, classes: list[int], device: str):
    if form == "none":
        return None
    if form == "int":
        return classes[0]
    if form == "list":
        return classes
    if form == "tensor":
        return torch.tensor(classes, device=device)
    return _margin


def _single(target, i: int):
    if isinstance(target, list):
        return [target[i]]
    if isinstance(target, torch.Tensor):
        return target[i : i + 1]
    return target  # None, an int, a callable: the same for one example


def _expected_shape(kind: str, n: int, h: int, w: int) -> tuple[int, ...]:
    return {
        "signed": (n, 3, h, w),
        "heat": (n, 3, h, w),
        "cam": (n, 1, h, w),
        "grid": (n, 1, h // 2, w // 2),  # conv2 sits after a 2x2 max-pool
    }[kind]


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 4),
    h=st.integers(4, 13),
    w=st.integers(4, 13),
    dtype_name=st.sampled_from(list(DTYPES)),
    form=st.sampled_from(TARGET_FORMS),
    classes=st.lists(st.integers(0, SmallCNN.num_classes - 1), min_size=4, max_size=4),
    seed=st.integers(0, 2**16),
)
@pytest.mark.parametrize("method", list(METHODS))
def test_shape_dtype_device_finite_and_independent(method, device, n, h, w, dtype_name, form, classes, seed):
    factory, options, kind = METHODS[method]
    dtype = DTYPES[dtype_name]
    model = _model(dtype_name, device)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, h, w, generator=generator, dtype=dtype).to(device)
    target = _target(form, classes[:n], device)
    explainer = factory(model)

    maps = explainer.attribute(x, target=target, **options)

    assert maps.shape == _expected_shape(kind, n, h, w)
    assert maps.dtype == dtype
    assert maps.device == x.device
    assert torch.isfinite(maps).all()
    singles = torch.cat([explainer.attribute(x[i : i + 1], target=_single(target, i), **options) for i in range(n)])
    scale = max(maps.abs().max().item(), 1e-30)
    if dtype == torch.float64:
        tolerance = {"rtol": 1e-10, "atol": 1e-12 * scale}
    else:
        tolerance = {"rtol": 1e-4, "atol": 1e-5 * scale}
    torch.testing.assert_close(maps, singles, **tolerance)
