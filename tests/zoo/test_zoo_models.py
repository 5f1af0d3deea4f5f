"""The shapes CNN: every ReLU form, small, shipped weights that load safely and are accurate."""

from importlib import resources

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from revelio import zoo
from revelio.core.layers import resolve_layer
from revelio.errors import ModelNotFoundError, RevelioError, WeightsError
from revelio.zoo import BUNDLED, CLASS_NAMES, ShapesCNN, ShapesResNet, ZooModel, load, make_batch
from revelio.zoo.train import ARCHITECTURES, TEST_SEED, evaluate

WEIGHTS = resources.files("revelio.zoo").joinpath("weights", "shapes_cnn.pt")
RESNET_WEIGHTS = resources.files("revelio.zoo").joinpath("weights", "shapes_resnet.pt")
RELU_FUNCTIONS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}


class _CountReLU(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in RELU_FUNCTIONS:
            self.calls += 1
        return func(*args, **(kwargs or {}))


def test_model_has_every_relu_form():
    model = ShapesCNN().eval()
    relus = [module for module in model.modules() if isinstance(module, nn.ReLU)]
    assert any(relu.inplace for relu in relus), "no nn.ReLU(inplace=True)"
    module_calls = {id(relu): 0 for relu in relus}
    handles = [
        relu.register_forward_hook(
            lambda module, *_: module_calls.__setitem__(id(module), module_calls[id(module)] + 1)
        )
        for relu in relus
    ]
    try:
        with _CountReLU() as counter:
            model(torch.randn(2, 3, 64, 64))
    finally:
        for handle in handles:
            handle.remove()
    assert max(module_calls.values()) >= 2, "no nn.ReLU module called twice in one forward"
    # nn.ReLU.forward calls F.relu itself: the calls beyond the module calls are functional.
    assert counter.calls - sum(module_calls.values()) >= 1, "no functional relu call"


def test_model_is_small_with_named_blocks():
    model = ShapesCNN()
    assert sum(p.numel() for p in model.parameters()) < 300_000
    assert [name for name, _ in model.named_children()] == ["block1", "block2", "block3", "pool", "head"]
    features = {}
    model.block3.register_forward_hook(lambda module, inputs, output: features.setdefault("block3", output))
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 6)
    assert features["block3"].shape == (2, 64, 16, 16)


def test_shipped_weights_load_with_weights_only():
    assert WEIGHTS.is_file(), "revelio/zoo/weights/shapes_cnn.pt is missing: run python -m revelio.zoo.train"
    with WEIGHTS.open("rb") as file:
        data = file.read()
    assert len(data) < 2 * 1024 * 1024
    with WEIGHTS.open("rb") as file:
        state = torch.load(file, map_location="cpu", weights_only=True)
    assert set(state) == set(ShapesCNN().state_dict())
    ShapesCNN().load_state_dict(state)


def test_load_gives_an_eval_model_with_its_metadata():
    zoo_model = load("shapes")
    assert isinstance(zoo_model, ZooModel)
    assert not zoo_model.model.training
    assert not any(module.training for module in zoo_model.model.modules())
    assert zoo_model.class_names == CLASS_NAMES
    assert zoo_model.input_size == (64, 64)
    assert zoo_model.multi_label
    name, _ = resolve_layer(zoo_model.model, zoo_model.gradcam_layer)
    assert name == "block3"
    images = make_batch(4, TEST_SEED).images
    assert torch.equal(zoo_model.preprocess(images), zoo_model.normalize(images))
    assert torch.allclose(zoo_model.denormalize(zoo_model.normalize(images)), images, atol=1e-6)
    probabilities = zoo_model.probabilities(zoo_model.model(zoo_model.preprocess(images)))
    assert probabilities.shape == (4, 6) and ((probabilities >= 0) & (probabilities <= 1)).all()


def test_load_unknown_name_lists_bundled_models():
    with pytest.raises(ModelNotFoundError, match="'shapes'") as error:
        load("shapez")
    assert "did you mean 'shapes'" in str(error.value)
    assert isinstance(error.value, RevelioError) and isinstance(error.value, ValueError)
    assert list(BUNDLED) == ["shapes", "shapes-resnet", "clutter"] == list(ARCHITECTURES)


def test_load_without_the_weights_file_says_how_to_remake_it(monkeypatch):
    monkeypatch.setattr(zoo, "SHAPES_WEIGHTS", "no_such_weights.pt")
    with pytest.raises(WeightsError, match="python -m revelio.zoo.train") as error:
        load("shapes")
    assert "no_such_weights.pt" in str(error.value) and isinstance(error.value, ValueError)


def test_shipped_weights_reach_95_percent_per_label_on_unseen_images():
    model = load("shapes").model
    label_accuracy, _ = evaluate(model, 500, TEST_SEED)
    assert label_accuracy >= 0.95, label_accuracy


def test_gradcam_on_block3_points_at_the_asked_object():
    """Grad-CAM (computed here by hand) on the default layer puts more mass in the asked object's mask."""
    zoo_model = load("shapes")
    batch = make_batch(64, TEST_SEED, start=1000)
    inputs = zoo_model.preprocess(batch.images)
    activations = {}
    handle = zoo_model.model.block3.register_forward_hook(lambda m, i, output: activations.setdefault("a", output))
    try:
        logits = zoo_model.model(inputs)
    finally:
        handle.remove()
    activation = activations["a"]
    margins = []
    for k in range(2):
        target, other = batch.classes[:, k], batch.classes[:, 1 - k]
        (gradient,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), activation, retain_graph=True)
        cam = F.relu((gradient.mean(dim=(2, 3), keepdim=True) * activation).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=(64, 64), mode="bilinear", align_corners=False)[:, 0].detach()
        cam = cam / cam.sum(dim=(1, 2), keepdim=True).clamp(min=1e-12)
        own = (cam * batch.masks[:, k]).sum(dim=(1, 2))
        others = (cam * batch.masks[:, 1 - k]).sum(dim=(1, 2))
        margins.append((own - others).mean())
        assert (other != target).all()
    assert min(margins) > 0.1, margins


# -- the second model ---------------------------------------------------------------------------------


def test_the_second_model_is_another_architecture_under_a_megabyte():
    first, second = ShapesCNN(), ShapesResNet()
    assert second(torch.randn(2, 3, 64, 64)).shape == (2, 6)
    assert {type(m) for m in second.modules()} != {type(m) for m in first.modules()}
    assert any(isinstance(m, nn.Conv2d) and m.kernel_size == (5, 5) for m in second.modules())
    assert any(isinstance(m, nn.Conv2d) and m.stride == (2, 2) for m in second.modules())
    assert ARCHITECTURES["shapes-resnet"].config.seed != ARCHITECTURES["shapes"].config.seed
    assert RESNET_WEIGHTS.is_file(), (
        "revelio/zoo/weights/shapes_resnet.pt is missing: python -m revelio.zoo.train --model shapes-resnet"
    )
    with RESNET_WEIGHTS.open("rb") as file:
        data = file.read()
    assert len(data) < 1024 * 1024
    with RESNET_WEIGHTS.open("rb") as file:
        ShapesResNet().load_state_dict(torch.load(file, map_location="cpu", weights_only=True))


def test_the_second_model_loads_with_its_metadata_and_is_accurate():
    zoo_model = load("shapes-resnet")
    assert zoo_model.name == "shapes-resnet" and isinstance(zoo_model.model, ShapesResNet)
    assert not any(module.training for module in zoo_model.model.modules())
    assert zoo_model.class_names == CLASS_NAMES and zoo_model.multi_label and zoo_model.gradcam_layer == "stage2"
    assert (zoo_model.mean, zoo_model.std, zoo_model.input_size) == (load("shapes").mean, load("shapes").std, (64, 64))
    label_accuracy, _ = evaluate(zoo_model.model, 500, TEST_SEED)
    assert label_accuracy >= 0.95, label_accuracy


def test_the_second_models_missing_weights_say_how_to_remake_them(monkeypatch):
    monkeypatch.setattr(zoo, "SHAPES_RESNET_WEIGHTS", "gone.pt")
    with pytest.raises(WeightsError, match="python -m revelio.zoo.train --model shapes-resnet"):
        load("shapes-resnet")
