"""Building torchvision classifiers and user models: weights files, named weights offline, clear errors."""

import textwrap
import urllib.error
import warnings

import pytest
import torch
from torch import nn
from torchvision.models import get_model

from revelio.core.layers import resolve_layer
from revelio.errors import InputError, ModelNotFoundError, RevelioError, WeightsDownloadError, WeightsError
from revelio.zoo import ZooModel
from revelio.zoo.torchvision import build, default_gradcam_layer, list_models

# One small architecture per family, with its input side.
FAMILIES = {
    "alexnet": 224,
    "convnext_tiny": 224,
    "densenet121": 224,
    "efficientnet_b0": 224,
    "googlenet": 224,
    "inception_v3": 299,
    "maxvit_t": 224,
    "mnasnet0_5": 224,
    "mobilenet_v2": 224,
    "mobilenet_v3_small": 224,
    "resnet18": 224,
    "resnext50_32x4d": 224,
    "shufflenet_v2_x0_5": 224,
    "squeezenet1_0": 224,
    "swin_t": 224,
    "vgg11": 224,
    "vit_b_16": 224,
    "wide_resnet50_2": 224,
}


def _random(name, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(name, **kwargs)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and a download that fails the way it does without network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def test_by_name_with_random_weights_warns():
    with pytest.warns(UserWarning, match="random weights"):
        zoo_model = build("resnet18")
    assert isinstance(zoo_model, ZooModel)
    assert not zoo_model.model.training
    assert zoo_model.weights is None and zoo_model.class_names is None
    assert zoo_model.gradcam_layer == "layer4"
    assert zoo_model.input_size == (224, 224) and zoo_model.resize_size == 256
    assert zoo_model.mean == pytest.approx((0.485, 0.456, 0.406))
    assert zoo_model.model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_weights_file_round_trip(tmp_path):
    source = _random("resnet18").model
    path = tmp_path / "resnet18.pt"
    torch.save(source.state_dict(), path)
    zoo_model = build("resnet18", weights=path)
    assert zoo_model.weights == str(path)
    for (key, mine), theirs in zip(zoo_model.model.state_dict().items(), source.state_dict().values()):
        assert torch.equal(mine, theirs), key
    # A file with ImageNet's 1000 outputs gets ImageNet's class names (shipped with torchvision).
    assert len(zoo_model.class_names) == 1000 and zoo_model.class_name(1) == "goldfish"


def test_weights_file_in_a_checkpoint_or_from_data_parallel(tmp_path):
    source = _random("mobilenet_v3_small").model.state_dict()
    nested = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{key}": value for key, value in source.items()}}, nested)
    zoo_model = build("mobilenet_v3_small", weights=str(nested))
    assert torch.equal(zoo_model.model.features[0][0].weight, source["features.0.0.weight"])


def test_weights_of_another_architecture_give_one_short_error(tmp_path):
    path = tmp_path / "mobilenet.pt"
    torch.save(_random("mobilenet_v3_small").model.state_dict(), path)
    with pytest.raises(WeightsError, match="do not fit resnet18") as error:
        build("resnet18", weights=path)
    message = str(error.value)
    assert "another architecture" in message and "missing from the file" in message
    assert len(message) < 1000 and "\n" not in message


def test_weights_for_other_classes_suggest_num_classes(tmp_path):
    path = tmp_path / "ten.pt"
    torch.save(_random("resnet18", num_classes=10).model.state_dict(), path)
    with pytest.raises(WeightsError, match="num_classes=10") as error:
        build("resnet18", weights=path)
    assert "fc.weight is (10, 512) in the file, (1000, 512) in the model" in str(error.value)
    zoo_model = build("resnet18", weights=path, num_classes=10, class_names=[f"c{k}" for k in range(10)])
    assert zoo_model.class_names[9] == "c9"
    with pytest.raises(InputError, match="3 class names"):
        build("resnet18", weights=path, num_classes=10, class_names=["a", "b", "c"])


def test_pickled_module_and_missing_file_are_refused(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(WeightsError, match="state_dict"):
        build("resnet18", weights=path)
    with pytest.raises(WeightsError, match="no weights file"):
        build("resnet18", weights=str(tmp_path / "nothing.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="could not read"):
        build("resnet18", weights=tmp_path / "junk.pt")


def test_named_weights_offline_raise_one_clear_error(offline_hub):
    with pytest.raises(WeightsDownloadError, match="could not download") as error:
        build("resnet18", weights="DEFAULT")
    assert isinstance(error.value, RevelioError) and isinstance(error.value, RuntimeError)
    message = str(error.value)
    assert "IMAGENET1K_V1" in message and "--weights PATH" in message
    assert str(offline_hub) in message


def test_named_weights_from_the_hub_cache_carry_their_metadata(offline_hub):
    offline_hub.mkdir(parents=True)
    state = _random("resnet18").model.state_dict()
    torch.save(state, offline_hub / "resnet18-f37072fd.pth")
    zoo_model = build("resnet18", weights="ResNet18_Weights.IMAGENET1K_V1")
    assert zoo_model.weights == "ResNet18_Weights.IMAGENET1K_V1"
    assert zoo_model.class_names[0] == "tench" and len(zoo_model.class_names) == 1000
    assert (zoo_model.input_size, zoo_model.resize_size) == ((224, 224), 256)
    assert torch.equal(zoo_model.model.fc.weight, state["fc.weight"])
    with pytest.raises(InputError, match="num_classes"):
        build("resnet18", weights="DEFAULT", num_classes=10)


def test_unknown_weights_name_lists_the_real_ones():
    with pytest.raises(WeightsError, match="DEFAULT, IMAGENET1K_V1"):
        build("resnet18", weights="IMAGENET1K_V9")


@pytest.mark.parametrize(("typo", "expected"), [("resnet5", "resnet50"), ("vgg_16", "vgg16"), ("ViT_B_16", "vit_b_16")])
def test_unknown_model_name_suggests_closest(typo, expected):
    with pytest.raises(ModelNotFoundError, match="closest names") as error:
        build(typo)
    assert expected in str(error.value)
    assert isinstance(error.value, RevelioError) and isinstance(error.value, ValueError)


def test_weights_errors_are_value_errors(tmp_path):
    with pytest.raises(WeightsError) as error:
        build("resnet18", weights=str(tmp_path / "nothing.pt"))
    assert isinstance(error.value, RevelioError) and isinstance(error.value, ValueError)


def test_preprocess_resizes_crops_and_normalises():
    zoo_model = _random("resnet18")
    images = torch.rand(2, 3, 300, 400)
    inputs = zoo_model.preprocess(images)
    assert inputs.shape == (2, 3, 224, 224)
    assert zoo_model.preprocess((images[0] * 255).to(torch.uint8)).shape == (1, 3, 224, 224)
    flat = zoo_model.preprocess(torch.full((3, 256, 256), 0.5))
    assert torch.allclose(flat[0, :, 0, 0], (0.5 - torch.tensor(zoo_model.mean)) / torch.tensor(zoo_model.std))


def test_default_gradcam_layer_exists_in_every_torchvision_classifier():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in list_models():
            if name.startswith("regnet"):  # its builder computes widths with tensors: not on "meta"
                continue
            with torch.device("meta"):  # no memory, no initialisation
                model = get_model(name)
            layer, _ = default_gradcam_layer(name, model)
            assert layer is not None, name
            resolve_layer(model, layer)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_default_gradcam_layer_gives_a_feature_map(name):
    side = FAMILIES[name]
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = get_model(name).eval()
    layer, reshape = default_gradcam_layer(name, model)
    captured = []
    _, module = resolve_layer(model, layer)
    handle = module.register_forward_hook(lambda m, i, output: captured.append(output))
    try:
        model(torch.empty(1, 3, side, side, device="meta"))
    finally:
        handle.remove()
    feature_map = reshape(captured[0]) if reshape else captured[0]
    assert feature_map.ndim == 4 and feature_map.shape[0] == 1, feature_map.shape
    channels, height, width = feature_map.shape[1:]
    assert 2 <= height <= 28 and height == width and channels > height, feature_map.shape


def test_regnet_gradcam_layer():
    zoo_model = _random("regnet_x_400mf")
    captured = []
    _, module = resolve_layer(zoo_model.model, zoo_model.gradcam_layer)
    handle = module.register_forward_hook(lambda m, i, output: captured.append(output))
    try:
        with torch.no_grad():
            zoo_model.model(torch.zeros(1, 3, 224, 224))
    finally:
        handle.remove()
    assert captured[0].shape == (1, 400, 7, 7)


def test_vit_uses_the_token_reshape():
    from revelio.attribution import vit_reshape

    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = get_model("vit_b_16")
    assert default_gradcam_layer("vit_b_16", model) == ("encoder.layers.encoder_layer_11.ln_1", vit_reshape)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "revelio_zoo_test_models.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            def tiny():
                return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

            def not_a_model():
                return 42

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(3 * 8 * 8, 2)

                def forward(self, x):
                    return self.fc(x.flatten(1))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "revelio_zoo_test_models"


def test_user_model_from_module_and_factory(user_module, tmp_path):
    zoo_model = build(f"{user_module}:tiny", class_names=["a", "b", "c"])
    assert zoo_model.name == f"{user_module}:tiny" and not zoo_model.model.training
    assert zoo_model.class_names == ("a", "b", "c") and zoo_model.gradcam_layer is None
    path = tmp_path / "tiny.pt"
    torch.save(zoo_model.model.state_dict(), path)
    again = build(f"{user_module}:tiny", weights=path)
    assert torch.equal(again.model[0].weight, zoo_model.model[0].weight)
    assert build(f"{user_module}:Net").model(torch.zeros(1, 3, 8, 8)).shape == (1, 2)


def test_user_model_errors(user_module):
    with pytest.raises(ModelNotFoundError, match="could not import"):
        build("revelio_no_such_module_here:make")
    with pytest.raises(ModelNotFoundError, match="has no 'tiney'.*tiny"):
        build(f"{user_module}:tiney")
    with pytest.raises(ModelNotFoundError, match="must return a torch nn.Module"):
        build(f"{user_module}:not_a_model")
    with pytest.raises(ModelNotFoundError, match="not a callable"):
        build(f"{user_module}:nn")
    with pytest.raises(ModelNotFoundError, match="package.module:factory"):
        build(":tiny")
    with pytest.raises(InputError, match="num_classes"):
        build(f"{user_module}:tiny", num_classes=3)
