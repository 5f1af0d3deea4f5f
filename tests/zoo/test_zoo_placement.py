"""Placements: an image into a model's input and a map back onto the image, against hand-computed pixels."""

from __future__ import annotations

import pytest
import torch

from revelio.errors import InputError
from revelio.zoo import ZooModel
from revelio.zoo.placement import place


def test_a_centre_crop_at_scale_one_copies_the_map_and_marks_the_rest_unseen():
    # an 8x4 image (W x H) into a 4x4 input, shorter side already 4: columns 2..5 are the crop
    placement = place((4, 8), (4, 4), "crop", resize_size=4)
    assert (placement.scaled, placement.offset) == ((4, 8), (0, -2))
    columns = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 4, 4)  # the input's column index
    back = placement.to_image(columns)[0, 0]
    assert back.shape == (4, 8)
    assert back[:, :2].isnan().all() and back[:, 6:].isnan().all()
    assert torch.equal(back[:, 2:6], torch.arange(4.0).expand(4, 4))
    assert placement.seen_box() == (0.0, 2.0, 4.0, 6.0)
    assert not placement.sees_everything


def test_a_wide_photo_into_a_torchvision_crop_lands_where_the_arithmetic_says():
    # 400x200 -> shorter side 256: 512x256 (scale 1.28), centre 224x224 at x 144, y 16
    placement = place((200, 400), (224, 224), "crop", resize_size=256)
    assert (placement.scaled, placement.offset) == ((256, 512), (-16, -144))
    assert placement.seen_box() == pytest.approx((12.5, 112.5, 187.5, 287.5))
    ramp = torch.arange(224.0).view(1, 1, 1, 224).expand(1, 1, 224, 224)
    back = placement.to_image(ramp)[0, 0]
    assert back.shape == (200, 400)
    assert back[:, :112].isnan().all() and back[:, 289:].isnan().all()  # left and right of the crop: not seen
    assert back[:12].isnan().all() and back[189:].isnan().all()  # above and below
    inside = back[13:187, 113:287]
    assert inside.isfinite().all()
    # image column x (centre x + 0.5) sits at 1.28 (x + 0.5) - 0.5 of the resized image, 144 less in the input;
    # the antialiased resampling keeps a ramp to within a tenth of an input pixel
    expected = (torch.arange(113, 287) + 0.5) * 1.28 - 0.5 - 144
    assert torch.allclose(inside, expected.expand_as(inside), atol=0.1)


def test_a_constant_map_comes_back_constant_up_to_the_edge_of_what_was_seen():
    placement = place((8, 16), (4, 4), "crop", resize_size=4)  # scale 0.5, the crop is x 4..11
    back = placement.to_image(torch.full((1, 4, 4), 3.0))
    assert back.shape == (1, 8, 16)
    assert back[:, :, :4].isnan().all() and back[:, :, 12:].isnan().all()
    assert torch.allclose(back[:, :, 4:12], torch.tensor(3.0))


def test_padding_keeps_the_aspect_ratio_and_is_dropped_on_the_way_back():
    placement = place((2, 4), (4, 4), "pad")  # 4x2 fits as 4x2, one row of padding above and below
    assert (placement.scaled, placement.offset) == ((2, 4), (1, 0))
    image = torch.arange(8.0).view(1, 1, 2, 4)
    inputs = placement.to_input(image, fill=[-1.0])
    assert torch.equal(inputs[0, 0, 0], torch.full((4,), -1.0)) and torch.equal(inputs[0, 0, 3], torch.full((4,), -1.0))
    assert torch.equal(inputs[0, 0, 1:3], image[0, 0])
    assert torch.equal(placement.to_image(inputs), image)  # everything seen: no NaN
    assert placement.sees_everything


def test_stretch_changes_the_aspect_and_says_so():
    placement = place((200, 400), (64, 64), "stretch")
    assert placement.describe() == "stretched 400x200 to 64x64 (aspect ratio changed)"
    assert placement.to_image(torch.ones(1, 1, 64, 64)).shape == (1, 1, 200, 400)
    assert place((64, 64), (64, 64), "stretch").describe() == ""


def test_the_description_says_what_the_model_saw():
    text = place((200, 400), (224, 224), "crop", 256).describe()
    assert text == "resized 400x200 to 512x256, centre-cropped to 224x224: the model saw x 112-288, y 12-188 of the image"
    assert place((200, 400), (64, 64), "pad").describe() == "resized 400x200 to 64x32, padded to 64x64 with the mean colour"


def test_zoo_model_options_change_preprocessing_and_refuse_bad_values():
    zoo_model = ZooModel(model=torch.nn.Identity(), name="id", input_size=(4, 4), mean=(0.5,), std=(0.5,),
                         resize_size=None)  # fmt: skip
    image = torch.zeros(1, 2, 4)
    assert zoo_model.fitting == "stretch"
    padded = zoo_model.configured(fit="pad").preprocess(image)
    assert torch.equal(padded[0, 0, 0], torch.zeros(4)) and torch.equal(padded[0, 0, 1], torch.full((4,), -1.0))
    assert zoo_model.configured(input_size=(6, 8)).preprocess(image).shape == (1, 1, 6, 8)
    assert zoo_model.configured(mean=[0.25], std=[0.25]).preprocess(image)[0, 0, 0, 0] == -1.0
    assert zoo_model.configured(class_names=["a", "b"], outputs=2).class_name(1) == "b"
    cropping = ZooModel(model=torch.nn.Identity(), name="c", input_size=(224, 224), resize_size=256)
    assert cropping.configured(input_size=448).resize_size == 512
    with pytest.raises(InputError, match="3 values"):
        cropping.configured(mean=[0.5])
    with pytest.raises(InputError, match="positive"):
        cropping.configured(std=[1.0, 0.0, 1.0])
    with pytest.raises(InputError, match="2 class names for a model with 3 outputs"):
        cropping.configured(class_names=["a", "b"], outputs=3)
    with pytest.raises(InputError, match="crop, pad, stretch"):
        cropping.configured(fit="squash")
    with pytest.raises(InputError, match="fit must be"):
        place((2, 2), (2, 2), "squash")
