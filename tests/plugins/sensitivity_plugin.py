"""A method from outside revelio, as a third-party package would ship it: sensitivity analysis.

``tests/test_plugins.py`` installs it as a distribution with a ``revelio.methods`` entry
point (``sensitivity = "sensitivity_plugin:SPEC"``) and checks that every tool finds it.
Montavon, Samek, Müller 2018, "Methods for interpreting and understanding deep neural
networks", Sec. 3.1: the squared input gradient.
"""

from __future__ import annotations

from torch import Tensor

from revelio.attribution import Attribution
from revelio.core import TargetSpec
from revelio.registry import MethodSpec


class SensitivityAnalysis(Attribution):
    """Squared input gradient, ``(d f_c / d x)^2``."""

    def attribute(self, inputs: Tensor, target: TargetSpec = None, *, power: float = 2.0) -> Tensor:
        """The input gradient of the target score, to the power ``power``, in magnitude."""
        return self.input_gradient(inputs, target).abs().pow(power)


SPEC = MethodSpec(
    name="sensitivity",
    cls=SensitivityAnalysis,
    title="Sensitivity analysis (plugin)",
    needs_layer=False,
    map_kind="heat",
    paper="Montavon, Samek, Müller 2018, Sec. 3.1",
)
