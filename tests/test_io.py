"""revelio.io.json_safe: what the reports write as JSON."""

import json
import math

import numpy as np
import torch

from revelio.io import json_safe


def test_non_finite_numbers_become_null_and_containers_become_lists():
    value = {1: (math.nan, math.inf, -math.inf, 0.5), "t": torch.tensor([1.0, 2.0]), "a": np.arange(2), "p": None}
    safe = json_safe(value)
    assert safe == {"1": [None, None, None, 0.5], "t": [1.0, 2.0], "a": [0, 1], "p": None}
    json.dumps(safe, allow_nan=False)  # raises on any NaN left behind


def test_other_objects_become_their_string():
    assert json_safe({"path": torch.device("cpu")}) == {"path": "cpu"}
