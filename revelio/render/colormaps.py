"""Colormaps: values in [0, 1] -> RGB, as small tables interpolated linearly in torch.

- ``"viridis"`` and ``"inferno"`` (van der Walt, Smith, Firing 2015, "mpl-colormaps",
  released under CC0): 33 of the published 256 entries (every 8th and the last),
  linearly interpolated; luminance rises monotonically from 0 to 1.
- ``"jet"``: the classic piecewise-linear rainbow, dark blue -> cyan -> yellow -> dark red.
- ``"gray"``: ``(v, v, v)``.
- ``"coolwarm"``: Moreland's diverging map (Moreland 2009, "Diverging Color Maps for
  Scientific Visualization"), blue ``(59, 76, 192)`` -> grey ``0.865`` at 0.5 -> red
  ``(180, 4, 38)``, sampled at 33 points of his Msh-space interpolation; for signed maps
  normalised with ``signed=True``.
"""

from __future__ import annotations

from functools import cache

import torch
from torch import Tensor

from revelio.errors import InputError

# (index in the published 256-entry table, r, g, b)
_VIRIDIS = (
    (0, 0.267004, 0.004874, 0.329415), (8, 0.277018, 0.050344, 0.375715),
    (16, 0.282327, 0.094955, 0.417331), (24, 0.282884, 0.135920, 0.453427),
    (32, 0.278826, 0.175490, 0.483397), (40, 0.270595, 0.214069, 0.507052),
    (48, 0.258965, 0.251537, 0.524736), (56, 0.244972, 0.287675, 0.537260),
    (64, 0.229739, 0.322361, 0.545706), (72, 0.214298, 0.355619, 0.551184),
    (80, 0.199430, 0.387607, 0.554642), (88, 0.185556, 0.418570, 0.556753),
    (96, 0.172719, 0.448791, 0.557885), (104, 0.160665, 0.478540, 0.558115),
    (112, 0.149039, 0.508051, 0.557250), (120, 0.137770, 0.537492, 0.554906),
    (128, 0.127568, 0.566949, 0.550556), (136, 0.120565, 0.596422, 0.543611),
    (144, 0.120638, 0.625828, 0.533488), (152, 0.132268, 0.655014, 0.519661),
    (160, 0.157851, 0.683765, 0.501686), (168, 0.196571, 0.711827, 0.479221),
    (176, 0.246070, 0.738910, 0.452024), (184, 0.304148, 0.764704, 0.419943),
    (192, 0.369214, 0.788888, 0.382914), (200, 0.440137, 0.811138, 0.340967),
    (208, 0.515992, 0.831158, 0.294279), (216, 0.595839, 0.848717, 0.243329),
    (224, 0.678489, 0.863742, 0.189503), (232, 0.762373, 0.876424, 0.137064),
    (240, 0.845561, 0.887322, 0.099702), (248, 0.926106, 0.897330, 0.104071),
    (255, 0.993248, 0.906157, 0.143936),
)  # fmt: skip

_INFERNO = (
    (0, 0.001462, 0.000466, 0.013866), (8, 0.013995, 0.011225, 0.071862),
    (16, 0.042253, 0.028139, 0.141141), (24, 0.081962, 0.043328, 0.215289),
    (32, 0.129285, 0.047293, 0.290788), (40, 0.183429, 0.040329, 0.354971),
    (48, 0.238273, 0.036621, 0.396353), (56, 0.290763, 0.045644, 0.418637),
    (64, 0.341500, 0.062325, 0.429425), (72, 0.391453, 0.080927, 0.433109),
    (80, 0.441207, 0.099338, 0.431594), (88, 0.491022, 0.117179, 0.425552),
    (96, 0.540920, 0.134729, 0.415123), (104, 0.590734, 0.152563, 0.400290),
    (112, 0.640135, 0.171438, 0.381065), (120, 0.688653, 0.192239, 0.357603),
    (128, 0.735683, 0.215906, 0.330245), (136, 0.780517, 0.243327, 0.299523),
    (144, 0.822386, 0.275197, 0.266085), (152, 0.860533, 0.311892, 0.230606),
    (160, 0.894305, 0.353399, 0.193584), (168, 0.923215, 0.399359, 0.155193),
    (176, 0.946965, 0.449191, 0.115272), (184, 0.965397, 0.502249, 0.073859),
    (192, 0.978422, 0.557937, 0.034931), (200, 0.985952, 0.615750, 0.025592),
    (208, 0.987874, 0.675267, 0.065257), (216, 0.984075, 0.736087, 0.129527),
    (224, 0.974638, 0.797692, 0.206332), (232, 0.960626, 0.859069, 0.298010),
    (240, 0.947594, 0.917399, 0.410665), (248, 0.954529, 0.965896, 0.540361),
    (255, 0.988362, 0.998364, 0.644924),
)  # fmt: skip

# Moreland's Msh interpolation at t = k / 32, k = 0..32.
_COOLWARM = (
    (0.231373, 0.298039, 0.752941), (0.267623, 0.352470, 0.800795), (0.305092, 0.405960, 0.844358),
    (0.343870, 0.458231, 0.883196), (0.383932, 0.508940, 0.916927), (0.425152, 0.557717, 0.945226),
    (0.467326, 0.604178, 0.967824), (0.510181, 0.647943, 0.984515), (0.553399, 0.688638, 0.995154),
    (0.596619, 0.725902, 0.999660), (0.639455, 0.759395, 0.998013), (0.681502, 0.788801, 0.990256),
    (0.722345, 0.813826, 0.976490), (0.761567, 0.834211, 0.956874), (0.798750, 0.849725, 0.931624),
    (0.833488, 0.860173, 0.901003), (0.865385, 0.865398, 0.865320), (0.897875, 0.848970, 0.820866),
    (0.924298, 0.827461, 0.774538), (0.944708, 0.801045, 0.726791), (0.959150, 0.769923, 0.678069),
    (0.967671, 0.734321, 0.628797), (0.970332, 0.694483, 0.579385), (0.967213, 0.650660, 0.530217),
    (0.958420, 0.603097, 0.481652), (0.944083, 0.552014, 0.434024), (0.924363, 0.497574, 0.387637),
    (0.899451, 0.439819, 0.342768), (0.869569, 0.378559, 0.299664), (0.834972, 0.313099, 0.258547),
    (0.795944, 0.241480, 0.219615), (0.752800, 0.157408, 0.183049), (0.705882, 0.015686, 0.149020),
)  # fmt: skip

# (position, r, g, b)
_KNOTS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "jet": (
        (0.0, 0.0, 0.0, 0.5), (0.125, 0.0, 0.0, 1.0), (0.375, 0.0, 1.0, 1.0),
        (0.625, 1.0, 1.0, 0.0), (0.875, 1.0, 0.0, 0.0), (1.0, 0.5, 0.0, 0.0),
    ),
    "inferno": tuple((i / 255, r, g, b) for i, r, g, b in _INFERNO),
    "viridis": tuple((i / 255, r, g, b) for i, r, g, b in _VIRIDIS),
    "gray": ((0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0)),
    "coolwarm": tuple((k / 32, r, g, b) for k, (r, g, b) in enumerate(_COOLWARM)),
}  # fmt: skip

COLORMAPS: tuple[str, ...] = tuple(_KNOTS)
"""Names :func:`colormap` accepts."""


@cache
def _table(name: str, device: torch.device) -> tuple[Tensor, Tensor]:
    knots = torch.tensor(_KNOTS[name], dtype=torch.float32, device=device)
    return knots[:, 0].contiguous(), knots[:, 1:].contiguous()


def colormap(values: Tensor, name: str = "jet") -> Tensor:
    """Map values in [0, 1] to RGB colours of colormap ``name``.

    Args:
        values: ``(N, 1, H, W)``, ``(1, H, W)`` or ``(H, W)``; values outside [0, 1] are
            clipped, NaN is drawn as 0.
        name: one of :data:`COLORMAPS` (``"jet"``, ``"inferno"``, ``"viridis"``,
            ``"gray"``, ``"coolwarm"``).

    Returns:
        ``float32`` RGB in [0, 1] on the values' device: ``(N, 3, H, W)`` for batched
        values, else ``(3, H, W)``.
    """
    if name not in _KNOTS:
        raise InputError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    if not isinstance(values, Tensor):
        raise InputError(f"values must be a torch.Tensor, got {type(values).__name__}")
    if values.ndim == 2:
        plane = values
    elif values.ndim in (3, 4) and values.shape[-3] == 1:
        plane = values.squeeze(-3)
    else:
        raise InputError(
            f"values must be (N, 1, H, W), (1, H, W) or (H, W), got shape {tuple(values.shape)}; "
            "reduce channels first (e.g. maps.abs().amax(dim=1, keepdim=True)) or use to_display"
        )
    positions, colors = _table(name, plane.device)
    v = torch.nan_to_num(plane.float(), nan=0.0).clamp(0.0, 1.0)
    index = (torch.searchsorted(positions, v.contiguous(), right=True) - 1).clamp(0, len(positions) - 2)
    start, end = positions[index], positions[index + 1]
    fraction = ((v - start) / (end - start)).unsqueeze(-1)
    rgb = colors[index] + fraction * (colors[index + 1] - colors[index])
    return rgb.movedim(-1, -3).clamp(0.0, 1.0).contiguous()
