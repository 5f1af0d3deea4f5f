"""Grad-CAM++, XGrad-CAM, LayerCAM and HiResCAM: maps on paper, undefined weights, element-wise weights.

Paper computation on :class:`CamNet` (see ``test_gradcam.py``): the input
``kron(S, ones(2, 2)) / 4`` with ``S = [[1, -2], [3, -1]]`` gives the conv output
``A^0 = S``, ``A^1 = -S``; ReLU gives ``R^0 = [[1, 0], [3, 0]]``, ``R^1 = [[0, 2], [0, 1]]``;
the head is GAP then ``W = [[2, 1], [-1, 3]]``, so ``h w = 4``.

Layer ``relu``: the gradient is ``g_k = W[c, k] / 4`` at every position.
  class 0, g = [0.5, 0.25]: XGrad-CAM, LayerCAM, HiResCAM = 0.5 R^0 + 0.25 R^1
    = [[0.5, 0.5], [1.5, 0.25]]. Grad-CAM++: sum R^0 = 4, sum R^1 = 3, alpha = 1 / (2 + g sum R)
    = [1/4, 4/11]; a = 4 alpha g = [1/2, 4/11]; map = [[1/2, 8/11], [3/2, 4/11]].
  class 1, g = [-0.25, 0.75]: XGrad-CAM, HiResCAM = -0.25 R^0 + 0.75 R^1 = [[-0.25, 1.5], [-0.75, 0.75]];
    LayerCAM = 0.75 R^1 = [[0, 1.5], [0, 0.75]]; Grad-CAM++: ReLU(g_0) = 0, alpha_1 = 1 / (2 + 3 * 0.75)
    = 4/17, a_1 = 4 * 4/17 * 0.75 = 12/17; map = 12/17 R^1 = [[0, 24/17], [0, 12/17]].
Layer ``conv`` (before the ReLU): ``g^k_ij = W[c, k] / 4 [A^k_ij > 0]``, masks
``m^0 = [[1, 0], [1, 0]]``, ``m^1 = [[0, 1], [0, 1]]``; ``sum A^0 = 1``, ``sum A^1 = -1``.
  class 0, g^0 = 0.5 m^0, g^1 = 0.25 m^1:
    XGrad-CAM: a_0 = 0.5 (1 + 3) / 1 = 2, a_1 = 0.25 (2 + 1) / -1 = -0.75; map = 2 S + 0.75 S = 2.75 S.
    LayerCAM = HiResCAM = g^0 A^0 + g^1 A^1 = [[0.5, 0.5], [1.5, 0.25]].
    Grad-CAM++: alpha = 1 / (2 + sum A g) where g != 0: channel 0 1 / 2.5 = 0.4, a_0 = 2 * 0.4 * 0.5 = 0.4;
      channel 1 1 / (2 - 0.25) = 4/7, a_1 = 2 * 4/7 * 0.25 = 2/7; map = (0.4 - 2/7) S = 4/35 S.
  class 1, g^0 = -0.25 m^0, g^1 = 0.75 m^1:
    XGrad-CAM: a_0 = -0.25 * 4 / 1 = -1, a_1 = 0.75 * 3 / -1 = -2.25; map = -S + 2.25 S = 1.25 S.
    LayerCAM = 0.75 m^1 A^1 = [[0, 1.5], [0, 0.75]]; HiResCAM = [[-0.25, 1.5], [-0.75, 0.75]].
    Grad-CAM++: a_0 = 0; alpha_1 = 1 / (2 - 0.75) = 0.8, a_1 = 2 * 0.8 * 0.75 = 1.2; map = -1.2 S.
"""

from __future__ import annotations

import pytest
import torch
from attribution_nets import CamNet, bilinear_2_to_4

from revelio.attribution import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from revelio.eval.known_answers import KNOWN_ANSWERS, known_answer
from revelio.eval.methods import build_explainer

S = torch.tensor(CamNet.S, dtype=torch.float64)
R0 = S.clamp(min=0)
R1 = (-S).clamp(min=0)


def t64(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# (method, layer, class, the 2x2 map before the ReLU, worked out in the module docstring)
ON_PAPER = [
    (XGradCAM, "relu", 0, 0.5 * R0 + 0.25 * R1),
    (LayerCAM, "relu", 0, 0.5 * R0 + 0.25 * R1),
    (HiResCAM, "relu", 0, 0.5 * R0 + 0.25 * R1),
    (GradCAMPlusPlus, "relu", 0, t64([[1 / 2, 8 / 11], [3 / 2, 4 / 11]])),
    (XGradCAM, "relu", 1, -0.25 * R0 + 0.75 * R1),
    (LayerCAM, "relu", 1, 0.75 * R1),
    (HiResCAM, "relu", 1, -0.25 * R0 + 0.75 * R1),
    (GradCAMPlusPlus, "relu", 1, 12 / 17 * R1),
    (XGradCAM, "conv", 0, 2.75 * S),
    (LayerCAM, "conv", 0, t64([[0.5, 0.5], [1.5, 0.25]])),
    (HiResCAM, "conv", 0, t64([[0.5, 0.5], [1.5, 0.25]])),
    (GradCAMPlusPlus, "conv", 0, 4 / 35 * S),
    (XGradCAM, "conv", 1, 1.25 * S),
    (LayerCAM, "conv", 1, t64([[0, 1.5], [0, 0.75]])),
    (HiResCAM, "conv", 1, t64([[-0.25, 1.5], [-0.75, 0.75]])),
    (GradCAMPlusPlus, "conv", 1, -1.2 * S),
]


@pytest.mark.parametrize("inplace", [False, True], ids=["relu", "relu_inplace"])
@pytest.mark.parametrize(("method", "layer", "cls", "grid"), ON_PAPER,
                         ids=[f"{m.__name__}-{layer}-{c}" for m, layer, c, _ in ON_PAPER])
def test_gradient_cams_on_paper(method, layer, cls, grid, inplace):
    model, x = CamNet(inplace=inplace), CamNet.example_input()
    cam = method(model, layer)
    torch.testing.assert_close(cam.attribute(x, cls, relu=False, upsample=False), grid[None, None], rtol=0, atol=1e-15)
    rectified = cam.attribute(x, cls, upsample=False)
    torch.testing.assert_close(rectified, grid.clamp(min=0)[None, None], rtol=0, atol=1e-15)
    m = bilinear_2_to_4()
    torch.testing.assert_close(cam.attribute(x, cls), (m @ grid.clamp(min=0) @ m.T)[None, None], rtol=0, atol=1e-15)


def test_the_variants_differ_where_the_gradient_varies_over_positions():
    # on the GAP layer they all weigh R^k by W[c, k] / 4 (class 0); before the ReLU they part ways
    model, x = CamNet(), CamNet.example_input()
    maps = {m: m(model, "conv").attribute(x, 0, relu=False, upsample=False) for m in
            (GradCAM, GradCAMPlusPlus, XGradCAM, LayerCAM)}
    torch.testing.assert_close(maps[GradCAM], (0.125 * S)[None, None], rtol=0, atol=1e-15)
    values = list(maps.values())
    assert all(not torch.allclose(a, b) for i, a in enumerate(values) for b in values[i + 1:])


def test_grad_cam_plus_plus_weight_is_zero_where_alpha_is_undefined():
    # input x8: A^0 = 8 S, A^1 = -8 S, sums 8 and -8. Class 0 at conv: channel 1 has g = 0.25 where
    # A^1 > 0 and 2 + (-8)(0.25) = 0: alpha undefined, weight 0 (pytorch-grad-cam's 1e-6 would give
    # 0.0625 / 1e-6). Channel 0: alpha = 1 / (2 + 8 * 0.5) = 1/6, a_0 = 2 * 1/6 * 0.5 = 1/6; map = 8/6 S.
    model, x = CamNet(), 8 * CamNet.example_input()
    cam = GradCAMPlusPlus(model, "conv").attribute(x, 0, relu=False, upsample=False)
    torch.testing.assert_close(cam, (8 / 6 * S)[None, None], rtol=0, atol=1e-14)


def test_xgrad_cam_weight_is_zero_for_a_channel_that_sums_to_zero():
    # S' = [[1, -2], [2, -1]] sums to 0, so does -S': both channels' weights are 0, the map too
    model = CamNet()
    x = torch.kron(t64([[1, -2], [2, -1]]), torch.ones(2, 2, dtype=torch.float64))[None, None] / 4
    cam = XGradCAM(model, "conv").attribute(x, 0, relu=False, upsample=False)
    assert torch.equal(cam, torch.zeros(1, 1, 2, 2, dtype=torch.float64))


@pytest.mark.parametrize(("method", "epsilon", "grid"), [
    # relu layer, class 0 (g = [0.5, 0.25], sums [4, 3]). Grad-CAM++: alpha = g^2 / (2 g^2 + S g^3 + 0.5)
    # = [0.25 / 1.5, 0.0625 / 0.671875] = [1/6, 4/43]; a = 4 alpha g = [1/3, 4/43].
    (GradCAMPlusPlus, 0.5, 1 / 3 * R0 + 4 / 43 * R1),
    # XGrad-CAM: a = g S / (S + 1) = [0.5 * 4/5, 0.25 * 3/4] = [0.4, 0.1875]
    (XGradCAM, 1.0, 0.4 * R0 + 0.1875 * R1),
])
def test_epsilon_enters_the_denominator_as_the_peers_put_it(method, epsilon, grid):
    cam = method(CamNet(), "relu")
    cam.epsilon = epsilon
    torch.testing.assert_close(cam.attribute(CamNet.example_input(), 0, upsample=False), grid[None, None], rtol=0,
                               atol=1e-15)


@pytest.mark.parametrize("method", [LayerCAM, HiResCAM])
def test_element_wise_weights_for_several_classes_per_example(method):
    # GradCAM.cam folds K classes into the batch: element-wise weights (N, K, h, w) go the same way
    model = CamNet()
    x = torch.cat([CamNet.example_input(), -CamNet.example_input()])
    classes = [[0, 1], [1, 0]]
    maps = method(model, "conv").attribute(x, classes, relu=False, upsample=False)
    assert maps.shape == (2, 2, 1, 2, 2)
    for k in range(2):
        single = method(model, "conv").attribute(x, [row[k] for row in classes], relu=False, upsample=False)
        torch.testing.assert_close(maps[:, k], single, rtol=0, atol=0)
    # example 0, class 1 is the worked value; example 1 flips the input, so A^0 = -S, A^1 = S
    worked = {(m, c): grid for m, layer, c, grid in ON_PAPER if layer == "conv"}
    torch.testing.assert_close(maps[0, 1, 0], worked[method, 1], rtol=0, atol=1e-15)


def test_a_new_cam_may_return_element_wise_weights():
    class PositiveEvidenceCAM(GradCAM):  # ReLU(g A) per position: only the positive contributions
        def channel_weights(self, activation, gradient):
            return gradient * (gradient * activation > 0)

    # class 1 at conv: g^0 A^0 = -0.25 [[1, 0], [3, 0]] is all negative, g^1 A^1 = [[0, 1.5], [0, 0.75]]
    cam = PositiveEvidenceCAM(CamNet(), "conv").attribute(CamNet.example_input(), 1, relu=False, upsample=False)
    torch.testing.assert_close(cam, t64([[0, 1.5], [0, 0.75]])[None, None], rtol=0, atol=1e-15)


# --- known answers (SANITY A1) -------------------------------------------------------


@pytest.mark.parametrize(("method", "impostor"), [("gradcam-plus-plus", "gradcam"), ("xgradcam", "layercam"),
                                                  ("layercam", "gradcam"), ("hirescam", "layercam"),
                                                  ("eigencam", "gradcam")])
def test_each_known_answer_holds_and_tells_another_method_apart(method, impostor):
    explainer = build_explainer(method, torch.nn.Linear(1, 1))
    assert known_answer(explainer).met is True
    criterion, check = KNOWN_ANSWERS[type(explainer.attribution)]
    result = check(build_explainer(impostor, torch.nn.Linear(1, 1)), 0, 6)
    assert result.met is False, (criterion, result)
