"""The README's example: every attribution method on a torchvision ResNet-18.

    python examples/quickstart.py

Random weights (nothing is downloaded), so the maps show the mechanics, not meaning;
`revelio demo` runs the same methods on the bundled trained model.
"""

import torch
import torchvision

from revelio import GradCAM, GuidedBackprop, GuidedGradCAM, Saliency

model = torchvision.models.resnet18(weights=None).eval()
images = torch.rand(4, 3, 224, 224)

maps = {
    "saliency": Saliency(model).attribute(images, target=None, channels="max"),
    "guided backprop": GuidedBackprop(model).attribute(images, target=[1, 2, 3, 4]),
    "grad-cam": GradCAM(model, "layer4").attribute(images, target=7),
    "guided grad-cam": GuidedGradCAM(model, "layer4").attribute(images),
}
for name, attribution in maps.items():
    print(f"{name:>16}: {tuple(attribution.shape)}  max |value| {attribution.abs().max():.3g}")
