"""resolve_layer: by module, by dotted name, and the errors for everything else; the CAM methods' default layer."""

import pytest
import torch
import torchvision
from torch import nn

from revelio.core import resolve_layer
from revelio.errors import LayerNotFoundError


@pytest.fixture(scope="module")
def resnet18():
    return torchvision.models.resnet18(weights=None).eval()


def _nested() -> nn.Module:
    model = nn.Module()
    model.encoder = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Sequential(nn.Conv2d(4, 4, 1), nn.Tanh()))
    model.head = nn.Linear(4, 2)
    return model


def test_dotted_name_on_sequential():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Flatten())
    name, module = resolve_layer(model, "3")
    assert name == "3"
    assert module is model[3]


def test_nested_dotted_names():
    model = _nested()
    assert resolve_layer(model, "encoder.2.0")[1] is model.encoder[2][0]
    assert resolve_layer(model, "encoder.2")[1] is model.encoder[2]
    assert resolve_layer(model, "head")[1] is model.head


def test_torchvision_names(resnet18):
    assert resolve_layer(resnet18, "layer4")[1] is resnet18.layer4
    assert resolve_layer(resnet18, "layer3.1.conv2")[1] is resnet18.layer3[1].conv2
    squeezenet = torchvision.models.squeezenet1_1(weights=None)
    assert resolve_layer(squeezenet, "features.3.expand3x3")[1] is squeezenet.features[3].expand3x3


def test_by_module_returns_its_dotted_name(resnet18):
    assert resolve_layer(resnet18, resnet18.layer2[0].downsample[1]) == ("layer2.0.downsample.1", resnet18.layer2[0].downsample[1])
    model = _nested()
    assert resolve_layer(model, model.encoder[2][1]) == ("encoder.2.1", model.encoder[2][1])


def test_model_itself_is_the_empty_name():
    model = _nested()
    assert resolve_layer(model, model) == ("", model)
    assert resolve_layer(model, "")[1] is model


def test_shared_module_resolves_to_a_name_that_reaches_it():
    shared = nn.ReLU()
    model = nn.Sequential(nn.Linear(2, 2), shared, nn.Linear(2, 2), shared)
    name, module = resolve_layer(model, shared)
    assert module is shared
    assert name in {"1", "3"}
    assert resolve_layer(model, "3")[1] is shared


def test_wrong_name_suggests_close_real_names(resnet18):
    with pytest.raises(LayerNotFoundError, match="'layer4'") as info:
        resolve_layer(resnet18, "layer5")
    message = str(info.value)
    assert "'layer5'" in message and "ResNet" in message
    # Every suggestion is a real module name.
    real = {name for name, _ in resnet18.named_modules()}
    suggested = [part.strip().strip("'") for part in message.split("closest names:")[1].split(",")]
    assert suggested and set(suggested) <= real


def test_wrong_nested_name_suggests_sibling(resnet18):
    with pytest.raises(LayerNotFoundError, match="'layer4.1'"):
        resolve_layer(resnet18, "layer4.5")
    with pytest.raises(LayerNotFoundError, match="'bn1'"):
        resolve_layer(resnet18, "bn")


def test_name_with_no_close_match_lists_top_level_names():
    model = _nested()
    with pytest.raises(LayerNotFoundError, match="'encoder', 'head'"):
        resolve_layer(model, "zzzzzzzz")


def test_wrong_name_is_a_value_error(resnet18):
    with pytest.raises(ValueError):
        resolve_layer(resnet18, "nope")


@pytest.mark.parametrize(
    ("layer", "error", "match"),
    [
        (nn.Conv2d(3, 4, 3), LayerNotFoundError, "not part of the model"),
        (nn.Linear(4, 2), LayerNotFoundError, "pass one of model's own submodules"),
        (3, TypeError, "layer must be a module or a dotted name, got int"),
        (None, TypeError, "got NoneType"),
        (["encoder"], TypeError, "got list"),
        (b"encoder", TypeError, "got bytes"),
    ],
)
def test_bad_layers(layer, error, match):
    with pytest.raises(error, match=match):
        resolve_layer(_nested(), layer)


def test_module_of_another_model_with_same_structure_is_rejected():
    model, twin = _nested(), _nested()
    with pytest.raises(LayerNotFoundError, match="Linear passed as layer is not part of the model"):
        resolve_layer(model, twin.head)


# -- the default layer of the CAM methods ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "arch, expected",
    [("resnet18", "layer4"), ("vgg11", "features"), ("densenet121", "features"), ("mobilenet_v3_small", "features"),
     ("squeezenet1_1", "classifier.2")],  # its 1x1-conv head keeps the grid: Grad-CAM there is the class's own map
)
def test_the_default_layer_is_the_last_spatial_block(arch, expected):
    import torchvision

    from revelio.core.layers import find_default_layer

    model = getattr(torchvision.models, arch)(weights=None).eval()
    assert find_default_layer(model, torch.zeros(1, 3, 64, 64)) == expected


def test_reused_modules_and_pooling_layers_are_not_picked():
    from revelio.core.layers import default_layer, describe_layers

    class Reuse(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.act = nn.ReLU()  # called twice: its first call is not the block's output
            self.pool = nn.MaxPool2d(2)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            x = self.act(self.conv(self.act(x)))
            return self.fc(self.gap(self.pool(x)).flatten(1))

    rows = describe_layers(Reuse(), torch.zeros(1, 3, 8, 8))
    assert {row.name: row.calls for row in rows}["act"] == 2
    assert default_layer(rows) == "conv"


def test_gradcam_without_a_layer_says_which_it_explains(resnet18):
    import warnings

    from revelio.attribution import GradCAM
    from revelio.errors import DefaultLayerWarning, LayerNotFoundError

    x = torch.randn(2, 3, 64, 64)
    with pytest.warns(DefaultLayerWarning, match="explaining 'layer4'") as caught:
        maps = GradCAM(resnet18).attribute(x, target=[1, 2])
    assert caught[0].filename == __file__  # the warning points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(maps, GradCAM(resnet18, "layer4").attribute(x, target=[1, 2]))
    flat = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    with pytest.raises(LayerNotFoundError, match="no layer whose output is a feature map"):
        GradCAM(flat).attribute(torch.randn(1, 3, 8, 8))
