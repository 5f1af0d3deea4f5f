"""ReLUOverride and its rules on tiny fixed-weight nets, checked against numbers worked out by hand."""

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from revelio.core import BackwardRule, DeconvolutionRule, GradientRule, GuidedRule, ReLUOverride

DT = torch.float64
X = torch.tensor([[1.0, 2.0]], dtype=DT)
W1 = torch.tensor([[1.0, 1.0], [1.0, -1.0], [2.0, -0.5]], dtype=DT)  # h1 = W1 x = [3, -1, 1]
W2 = torch.tensor([[1.0, 2.0, -1.0], [-1.0, 1.0, 0.5]], dtype=DT)  # h2 = W2 relu(h1) = [2, -2.5]
W3 = torch.tensor([1.0, 3.0], dtype=DT)  # y = W3 . relu(h2) = 2

# d y / d x for y = W3 . relu(W2 relu(W1 x)), worked out on paper:
#   gradient:  g_h2 = [1, 0];  g_r1 = [1, 2, -1];  g_h1 = [1, 0, -1];  g_x = [-1, 1.5]
#   guided:    g_h2 = [1, 0];  g_r1 = [1, 2, -1];  g_h1 = [1, 0, 0];   g_x = [1, 1]
#   deconv:    g_h2 = [1, 3];  g_r1 = [-2, 5, .5]; g_h1 = [0, 5, .5];  g_x = [6, -5.25]
HAND = {
    "gradient": [-1.0, 1.5],
    "guided": [1.0, 1.0],
    "deconvolution": [6.0, -5.25],
}
RULES = {"gradient": GradientRule, "guided": GuidedRule, "deconvolution": DeconvolutionRule}

RELU_FORMS = {
    "nn.ReLU": lambda: nn.ReLU(),
    "nn.ReLU(inplace)": lambda: nn.ReLU(inplace=True),
    "F.relu": lambda: F.relu,
    "F.relu(inplace=True)": lambda: lambda t: F.relu(t, inplace=True),
    "F.relu(t, True)": lambda: lambda t: F.relu(t, True),
    "F.relu_": lambda: F.relu_,
    "torch.relu": lambda: torch.relu,
    "torch.relu_": lambda: torch.relu_,
    "Tensor.relu": lambda: Tensor.relu,
    "Tensor.relu_": lambda: Tensor.relu_,
    "torch.relu(input=)": lambda: lambda t: torch.relu(input=t),
}


class TwoReLUNet(nn.Module):
    """y = W3 . relu(W2 relu(W1 x)), with the ReLU called in a chosen way."""

    def __init__(self, first, second=None):
        super().__init__()
        self.fc1 = nn.Linear(2, 3, bias=False).to(DT)
        self.fc2 = nn.Linear(3, 2, bias=False).to(DT)
        with torch.no_grad():
            self.fc1.weight.copy_(W1)
            self.fc2.weight.copy_(W2)
        self.act1 = first
        self.act2 = first if second is None else second
        self.register_buffer("w3", W3.clone())

    def forward(self, x):
        return self.act2(self.fc2(self.act1(self.fc1(x)))) @ self.w3


def _grad(model, x, override=None):
    x = x.clone().requires_grad_(True)
    if override is None:
        y = model(x)
    else:
        with override:
            y = model(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), grad


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("form", list(RELU_FORMS))
def test_every_relu_form_gets_the_rule(form, rule):
    model = TwoReLUNet(RELU_FORMS[form](), RELU_FORMS[form]())
    override = ReLUOverride(RULES[rule]())
    y, grad = _grad(model, X, override)
    assert override.calls == 2
    assert y.tolist() == [2.0]
    assert grad.dtype == DT
    assert grad.tolist() == [HAND[rule]]


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("inplace", [False, True])
def test_one_relu_module_called_twice(rule, inplace):
    relu = nn.ReLU(inplace=inplace)
    model = TwoReLUNet(relu)
    assert model.act1 is model.act2
    override = ReLUOverride(RULES[rule]())
    _, grad = _grad(model, X, override)
    assert override.calls == 2
    assert grad.tolist() == [HAND[rule]]


def test_plain_autograd_matches_the_hand_gradient():
    """The hand numbers themselves, checked against torch's own ReLU."""
    _, grad = _grad(TwoReLUNet(nn.ReLU()), X)
    assert grad.tolist() == [HAND["gradient"]]


def test_batch_of_examples_each_get_their_own_masks():
    x = torch.cat([X, -X, 2 * X])  # -X: h1 = [-3, 1, -1], so r1 = [0, 1, 0]; h2 = [2, 1]
    model = TwoReLUNet(nn.ReLU())
    _, grad = _grad(model, x, ReLUOverride(GuidedRule()))
    # Example 2: g_h2 = [1, 3]; g_r1 = [1-3, 2+3, -1+1.5] = [-2, 5, 0.5]; guided g_h1 = [0, 5, 0]
    # (only h1[1] > 0), g_x = W1^T [0, 5, 0] = [5, -5]. Example 3 is example 1 scaled: same masks.
    assert grad.tolist() == [[1.0, 1.0], [5.0, -5.0], [1.0, 1.0]]


@pytest.mark.parametrize(
    "relu_",
    [F.relu_, torch.relu_, Tensor.relu_, lambda t: F.relu(t, inplace=True), lambda t: nn.ReLU(inplace=True)(t)],
    ids=["F.relu_", "torch.relu_", "Tensor.relu_", "F.relu(inplace)", "nn.ReLU(inplace)"],
)
def test_in_place_semantics_are_preserved(relu_):
    leaf = torch.tensor([-1.0, 0.5, 2.0, -3.0], dtype=DT, requires_grad=True)
    h = leaf * 1
    version = h._version
    with ReLUOverride(GuidedRule()) as override:
        out = relu_(h)
    assert override.calls == 1
    assert out is h  # like torch: the same tensor comes back
    assert h._version > version
    assert h.tolist() == [0.0, 0.5, 2.0, 0.0]
    (grad,) = torch.autograd.grad((h * torch.tensor([1.0, -1.0, 2.0, 5.0], dtype=DT)).sum(), leaf)
    assert grad.tolist() == [0.0, 0.0, 2.0, 0.0]


def test_out_of_place_forms_leave_the_input_alone():
    h = torch.tensor([-1.0, 2.0], dtype=DT)
    with ReLUOverride(GuidedRule()):
        outs = [F.relu(h), torch.relu(h), h.relu(), nn.ReLU()(h)]
    assert h.tolist() == [-1.0, 2.0]
    assert all(out is not h and out.tolist() == [0.0, 2.0] for out in outs)


def test_in_place_on_a_leaf_that_requires_grad_still_fails_like_torch():
    leaf = torch.tensor([1.0, -1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        torch.relu_(leaf)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        with ReLUOverride(GuidedRule()):
            torch.relu_(leaf)


def test_in_place_on_a_view():
    leaf = torch.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]], dtype=DT, requires_grad=True)
    h = leaf * 1
    with ReLUOverride(GuidedRule()):
        h[:, :2].relu_()
    assert h.tolist() == [[1.0, 0.0, 3.0], [0.0, 5.0, -6.0]]
    weights = torch.tensor([[-1.0, 2.0, -3.0], [4.0, -5.0, 6.0]], dtype=DT)
    (grad,) = torch.autograd.grad((h * weights).sum(), leaf)
    # Columns 0-1 went through the guided ReLU (pass only where input > 0 and gradient > 0);
    # column 2 did not (plain identity gradient).
    assert grad.tolist() == [[0.0, 0.0, -3.0], [0.0, 0.0, 6.0]]


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize(
    ("rule", "expected"),
    # y = w . relu(h) + v . h with h = W1 x = [3, -1, 1], w = [1, 2, -1], v = [-1, 0.5, 2].
    # Only the ReLU path gets the rule: g_h = rule([1, 2, -1]) + v, then g_x = W1^T g_h.
    #   guided: [1, 0, 0] + v = [0, 0.5, 2] -> [4.5, -1.5]
    #   deconv: [1, 2, 0] + v = [0, 2.5, 2] -> [6.5, -3.5]
    #   gradient: [1, 0, -1] + v = [0, 0.5, 1] -> [2.5, -1]
    [(GuidedRule, [4.5, -1.5]), (DeconvolutionRule, [6.5, -3.5]), (GradientRule, [2.5, -1.0])],
)
def test_relu_input_feeding_another_branch(rule, expected, inplace):
    w = torch.tensor([1.0, 2.0, -1.0], dtype=DT)
    v = torch.tensor([-1.0, 0.5, 2.0], dtype=DT)
    x = X[0].clone().requires_grad_(True)
    with ReLUOverride(rule()) as override:
        h = W1 @ x
        skip = v @ h  # the other branch reads h before the ReLU
        y = w @ F.relu(h, inplace=inplace) + skip
    assert override.calls == 1
    assert y.item() == 0.5
    (grad,) = torch.autograd.grad(y, x)
    assert grad.tolist() == expected


OTHER_ACTIVATIONS = {
    "ReLU6": nn.ReLU6(),
    "LeakyReLU": nn.LeakyReLU(0.1),
    "SiLU": nn.SiLU(),
    "GELU": nn.GELU(),
    "Hardswish": nn.Hardswish(),
    "F.relu6": F.relu6,
    "clamp(min=0)": lambda t: t.clamp(min=0),
    "F.leaky_relu_": lambda t: F.leaky_relu_(t, 0.2),
    "F.hardtanh": F.hardtanh,
}


@pytest.mark.parametrize("name", list(OTHER_ACTIVATIONS))
def test_other_activations_are_left_plain(name):
    act = OTHER_ACTIVATIONS[name]
    model = TwoReLUNet(act)
    _, plain = _grad(model, X)
    override = ReLUOverride(GuidedRule())
    _, grad = _grad(model, X, override)
    assert override.calls == 0
    # h1 = [3, -1, 1] gets a negative gradient at a positive input, so a guided rule
    # applied to these activations would change the gradient.
    assert torch.equal(grad, plain)


def test_mixed_relu_and_other_activation():
    """Only the ReLU gets the rule: relu then ReLU6, worked by hand."""
    model = TwoReLUNet(nn.ReLU(), nn.ReLU6())
    override = ReLUOverride(GuidedRule())
    _, grad = _grad(model, X, override)
    assert override.calls == 1
    # h2 = [2, -2.5]: relu6' = [1, 0] -> g_h2 = [1, 0]; g_r1 = [1, 2, -1]; guided g_h1 = [1, 0, 0]; g_x = [1, 1].
    assert grad.tolist() == [[1.0, 1.0]]


def test_using_swaps_the_rule_for_a_backward_pass_and_restores_it():
    model = TwoReLUNet(nn.ReLU())
    x = X.clone().requires_grad_(True)
    with ReLUOverride(GuidedRule()) as override:
        y = model(x).sum()
    rule = override.rule
    with override.using(GradientRule()) as same:
        assert same is override
        (plain,) = torch.autograd.grad(y, x, retain_graph=True)
    assert override.rule is rule
    (guided,) = torch.autograd.grad(y, x, retain_graph=True)
    with override.using(DeconvolutionRule()):
        (deconv,) = torch.autograd.grad(y, x, retain_graph=True)
    assert plain.tolist() == [HAND["gradient"]]
    assert guided.tolist() == [HAND["guided"]]
    assert deconv.tolist() == [HAND["deconvolution"]]


def test_using_restores_the_rule_after_an_exception():
    override = ReLUOverride(GuidedRule())
    rule = override.rule
    with pytest.raises(KeyError):
        with override.using(GradientRule()):
            raise KeyError
    assert override.rule is rule


def test_backward_after_the_block_still_uses_the_rule_and_the_mode_is_gone():
    model = TwoReLUNet(nn.ReLU())
    x = X.clone().requires_grad_(True)
    with ReLUOverride(GuidedRule()) as override:
        y = model(x).sum()
    (guided,) = torch.autograd.grad(y, x)
    assert guided.tolist() == [HAND["guided"]]
    _, plain = _grad(model, X)  # outside: plain again, not counted
    assert plain.tolist() == [HAND["gradient"]]
    assert override.calls == 2


def test_calls_reset_on_each_entry():
    override = ReLUOverride(GuidedRule())
    model = TwoReLUNet(nn.ReLU())
    for _ in range(2):
        with override:
            model(X)
        assert override.calls == 2


def test_a_new_rule_is_a_small_class():
    class DoubledGradient(BackwardRule):
        def __call__(self, grad_out, out):
            return 2 * grad_out * (out > 0)

    _, grad = _grad(TwoReLUNet(nn.ReLU()), X, ReLUOverride(DoubledGradient()))
    assert grad.tolist() == [[-4.0, 6.0]]  # two ReLUs: 4 x the plain gradient
    assert repr(DoubledGradient()) == "DoubledGradient()"
    with pytest.raises(TypeError):
        BackwardRule()  # abstract


@pytest.mark.parametrize("rule", [GuidedRule(), DeconvolutionRule(), GradientRule()])
def test_rules_elementwise(rule):
    grad_out = torch.tensor([2.0, -2.0, 3.0, -3.0, 0.0], dtype=DT)
    out = torch.tensor([1.0, 1.0, 0.0, 0.0, 5.0], dtype=DT)
    expected = {
        GuidedRule: [2.0, 0.0, 0.0, 0.0, 0.0],
        DeconvolutionRule: [2.0, 0.0, 3.0, 0.0, 0.0],
        GradientRule: [2.0, -2.0, 0.0, 0.0, 0.0],
    }[type(rule)]
    assert rule(grad_out, out).tolist() == expected


def test_no_grad_forward_under_the_override():
    model = TwoReLUNet(nn.ReLU(inplace=True))
    with torch.no_grad(), ReLUOverride(GuidedRule()) as override:
        y = model(X)
    assert override.calls == 2
    assert y.tolist() == [2.0]
    assert not y.requires_grad


def test_no_hooks_and_no_patching():
    model = TwoReLUNet(nn.ReLU())
    relu, functional_relu = torch.relu, F.relu
    with ReLUOverride(GuidedRule()):
        assert F.relu is functional_relu and torch.relu is relu
        model(X)
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


@pytest.mark.parametrize("rule", list(RULES))
def test_on_every_device(rule, device):
    model = TwoReLUNet(nn.ReLU(inplace=True), F.relu).to(device)
    x = X.to(device).requires_grad_(True)
    with ReLUOverride(RULES[rule]()) as override:
        y = model(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert override.calls == 2
    assert grad.device.type == device
    assert grad.cpu().tolist() == [HAND[rule]]
