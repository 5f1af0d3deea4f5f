"""Tiny fixed-weight networks and independent references for the attribution tests.

Nothing here calls revelio: these are the yardsticks revelio is measured against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# --- every way a model can call ReLU --------------------------------------------------

RELU_FORMS = {
    "nn.ReLU": lambda module, x: module.relu(x),
    "nn.ReLU(inplace)": lambda module, x: module.relu_inplace(x),
    "F.relu": lambda module, x: F.relu(x),
    "F.relu(inplace)": lambda module, x: F.relu(x, inplace=True),
    "F.relu_": lambda module, x: F.relu_(x),
    "torch.relu": lambda module, x: torch.relu(x),
    "torch.relu_": lambda module, x: torch.relu_(x),
    "Tensor.relu": lambda module, x: x.relu(),
    "Tensor.relu_": lambda module, x: x.relu_(),
    "aten.relu": lambda module, x: torch.ops.aten.relu(x),
    "aten.relu.default": lambda module, x: torch.ops.aten.relu.default(x),
    "aten.relu_": lambda module, x: torch.ops.aten.relu_(x),
    "aten.relu_.default": lambda module, x: torch.ops.aten.relu_.default(x),
    "F.threshold(0, 0)": lambda module, x: F.threshold(x, 0.0, 0.0),
    "F.threshold(0, 0, inplace)": lambda module, x: F.threshold(x, 0.0, 0.0, inplace=True),
    "torch.threshold(0, 0)": lambda module, x: torch.threshold(x, 0, 0),
}
OUT_OF_PLACE_FORMS = ["nn.ReLU", "F.relu", "torch.relu", "Tensor.relu", "aten.relu", "F.threshold(0, 0)"]


class Activation(nn.Module):
    """ReLU applied in one of the :data:`RELU_FORMS`."""

    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form
        self.relu = nn.ReLU()
        self.relu_inplace = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return RELU_FORMS[self.form](self, x)


class HandNet(nn.Module):
    """``out = w2 . relu(W1 x)`` (or ``w2 . (relu(h) + h)`` with ``residual``), float64.

    With ``x = [1, 2]``: ``h = W1 x = [-1, 4, 3]`` and the gradient arriving at the
    ReLU output is ``w2 = [2, -3, 1]``: one unit with a negative input, one with a
    negative incoming gradient, one with both positive. On paper:

    ===============  =========================  ===============
    rule             gradient at h              d out / d x
    ===============  =========================  ===============
    plain            [0, -3, 1]                 [-5, -2]
    guided           [0, 0, 1]                  [1, 1]
    deconvolution    [2, 0, 1]                  [3, -1]
    ===============  =========================  ===============

    With ``residual`` the identity branch adds ``w2`` at ``h``: plain [-8, -6],
    guided [-2, -3], deconvolution [0, -5].
    """

    W1 = [[1.0, -1.0], [2.0, 1.0], [1.0, 1.0]]
    W2 = [[2.0, -3.0, 1.0]]
    X = [[1.0, 2.0]]

    def __init__(self, form: str = "nn.ReLU", residual: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 3, bias=False)
        self.act = Activation(form)
        self.fc2 = nn.Linear(3, 1, bias=False)
        self.residual = residual
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor(self.W1))
            self.fc2.weight.copy_(torch.tensor(self.W2))
        self.double()

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc1(x)
        r = self.act(h)
        return self.fc2(r + h if self.residual else r)


HAND_EXPECTED = {
    (False, "plain"): [-5.0, -2.0],
    (False, "guided"): [1.0, 1.0],
    (False, "deconvolution"): [3.0, -1.0],
    (True, "plain"): [-8.0, -6.0],
    (True, "guided"): [-2.0, -3.0],
    (True, "deconvolution"): [0.0, -5.0],
}


class CamNet(nn.Module):
    """conv(1->2, 2x2 stride 2, weights +1 / -1) -> ReLU -> GAP -> linear, float64.

    The input is ``kron(S, ones(2, 2)) / 4`` with ``S = [[1, -2], [3, -1]]``, so the
    conv output is ``A^0 = S``, ``A^1 = -S`` on a 2x2 grid. Linear weights
    ``W = [[2, 1], [-1, 3]]``, no biases. See ``test_gradcam.py`` for the paper
    computation of the maps.
    """

    S = [[1.0, -2.0], [3.0, -1.0]]
    W = [[2.0, 1.0], [-1.0, 3.0]]

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=2, stride=2, bias=False)
        self.relu = nn.ReLU(inplace=inplace)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.stack([torch.ones(1, 2, 2), -torch.ones(1, 2, 2)]))
            self.fc.weight.copy_(torch.tensor(self.W))
        self.double()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.flatten(self.pool(self.relu(self.conv(x)))))

    @classmethod
    def example_input(cls) -> Tensor:
        grid = torch.tensor(cls.S, dtype=torch.float64)
        return torch.kron(grid, torch.ones(2, 2, dtype=torch.float64))[None, None] / 4


def bilinear_2_to_4() -> Tensor:
    """The 4x2 matrix of bilinear upsampling 2 -> 4 (half-pixel centres), on paper.

    Output pixel i samples source coordinate ``(i + 0.5) / 2 - 0.5``, i.e. -0.25, 0.25,
    0.75, 1.25, clamped into [0, 1]: weights (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1).
    """
    return torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]], dtype=torch.float64)


# --- a small CNN with every ReLU flavour torchvision uses ----------------------------


class Tripwire(nn.Module):
    """Identity that raises in forward (``armed_forward``) or in backward (``armed_backward``)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed_forward = False
        self.armed_backward = False
        self.backward_calls = 0  # backward passes that reached it (armed or not)

    def forward(self, x: Tensor) -> Tensor:
        if self.armed_forward:
            raise RuntimeError("tripwire: forward failed on purpose")
        return _FailingBackward.apply(x, self)


class _FailingBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, tripwire: Tripwire) -> Tensor:
        ctx.tripwire = tripwire
        return x.clone()

    @staticmethod
    def backward(ctx, grad: Tensor):
        ctx.tripwire.backward_calls += 1
        if ctx.tripwire.armed_backward:
            raise RuntimeError("tripwire: backward failed on purpose")
        return grad, None


class SmallCNN(nn.Module):
    """conv -> BN -> ReLU(inplace) -> maxpool -> conv -> tripwire -> F.relu -> GAP -> linear.

    Counts its forward calls in :attr:`forward_calls`. ``conv2`` is the usual CAM layer;
    its grid is ``(H // 2, W // 2)``.
    """

    num_classes = 5

    def __init__(self, batchnorm: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4) if batchnorm else nn.Identity()
        self.relu1 = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.tripwire = Tripwire()
        self.unused = nn.Conv2d(6, 6, 1)  # a layer the forward pass never calls
        self.fc = nn.Linear(6, self.num_classes)
        self.forward_calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.forward_calls += 1
        x = self.pool(self.relu1(self.bn1(self.conv1(x))))
        x = F.relu(self.tripwire(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


def small_cnn(
    dtype: torch.dtype = torch.float32, device: str = "cpu", seed: int = 0, batchnorm: bool = True
) -> SmallCNN:
    """A seeded :class:`SmallCNN` in eval mode, with non-trivial BatchNorm statistics."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmallCNN(batchnorm=batchnorm)
        if batchnorm:
            model.bn1.running_mean.uniform_(-0.2, 0.2)
            model.bn1.running_var.uniform_(0.5, 1.5)
            with torch.no_grad():
                model.bn1.weight.uniform_(0.5, 1.5)
                model.bn1.bias.uniform_(-0.2, 0.2)
    return model.to(device=device, dtype=dtype).eval()


class _Tokens(nn.Module):
    """A feature map ``(N, D, h, w)`` as ViT tokens ``(N, 1 + h w, D)``: a zero class token, then the patches row by row."""

    def forward(self, x: Tensor) -> Tensor:
        patches = x.flatten(2).transpose(1, 2)
        return torch.cat([torch.zeros_like(patches[:, :1]), patches], dim=1)


class TokenNet(nn.Module):
    """Patch embedding (``patch``: 2x2 conv, stride 2, to 4 channels), tokens (``tokens``), mean of the patch tokens, linear.

    ``tokens`` read through ``vit_reshape`` is ``patch``'s output: a CAM of either layer is the same map.
    """

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 4, 2, stride=2)
        self.tokens = _Tokens()
        self.head = nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.tokens(self.patch(x))[:, 1:].mean(dim=1))


# --- independent references -----------------------------------------------------------


class _ReferenceRuleReLU(torch.autograd.Function):
    """Out-of-place ReLU whose backward is guided (Springenberg) or deconvolution (Zeiler)."""

    @staticmethod
    def forward(ctx, x: Tensor, rule: str) -> Tensor:
        out = x.clamp(min=0)
        ctx.save_for_backward(x)
        ctx.rule = rule
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        positive_grad = torch.where(grad > 0, grad, torch.zeros_like(grad))
        if ctx.rule == "guided":
            return torch.where(x > 0, positive_grad, torch.zeros_like(grad)), None
        return positive_grad, None


def reference_modified_gradient(monkeypatch, model: nn.Module, x: Tensor, classes, rule: str) -> Tensor:
    """Input gradient with every ``F.relu`` (hence every ``nn.ReLU``) replaced by the rule.

    Written independently of revelio: it patches ``torch.nn.functional.relu`` for the
    forward pass, as a user would by hand. Covers models that call ReLU through
    ``nn.ReLU`` or ``F.relu`` (torchvision VGG, ResNet, DenseNet).
    """
    with monkeypatch.context() as patch:
        patch.setattr(F, "relu", lambda t, inplace=False: _ReferenceRuleReLU.apply(t, rule))
        leaf = x.detach().clone().requires_grad_(True)
        out = model(leaf)
    score = out.gather(1, torch.as_tensor(classes).view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(score, leaf)
    return grad


def plain_gradient(model: nn.Module, x: Tensor, classes) -> Tensor:
    """``d f_c / d x`` by autograd, the textbook way."""
    leaf = x.detach().clone().requires_grad_(True)
    out = model(leaf)
    score = out.gather(1, torch.as_tensor(classes, device=out.device).view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(score, leaf)
    return grad


def manual_gradcam(features, head, x: Tensor, classes, size=None, relu: bool = True) -> Tensor:
    """Grad-CAM by the paper's formula from a model split at the layer: ``head(features(x))``."""
    activation = features(x.detach()).detach().requires_grad_(True)
    out = head(activation)
    score = out.gather(1, torch.as_tensor(classes).view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(score, activation)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = (weights * activation.detach()).sum(dim=1, keepdim=True)
    if relu:
        cam = cam.clamp(min=0)
    if size is not None:
        cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)
    return cam


# --- internal batches ---------------------------------------------------------------------


def forward_batch_sizes(model: SmallCNN, run: Callable[[], object]) -> list[int]:
    """The batch size of each forward pass of ``model`` while ``run()`` runs, in order."""
    sizes: list[int] = []
    handle = model.conv1.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    try:
        run()
    finally:
        handle.remove()
    return sizes


def assert_any_internal_batch_size_agrees(attribute: Callable[[int | None], Tensor], sizes: Iterable[int | None],
                                          reference_size: int) -> None:
    """``attribute(internal_batch_size)`` gives the same map (float64 rounding) for every size."""
    reference = attribute(reference_size)
    for size in sizes:
        torch.testing.assert_close(attribute(size), reference, rtol=1e-12, atol=1e-14)


# --- model-state snapshots -------------------------------------------------------------

HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def hook_counts(model: nn.Module) -> dict[str, int]:
    """Number of hooks of each kind on each module."""
    return {f"{name}.{d}": len(getattr(module, d)) for name, module in model.named_modules() for d in HOOK_DICTS}
