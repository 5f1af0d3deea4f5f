"""A map-style dataset whose item ``i`` is rendered from ``(seed, i)`` alone: the base of the generated tasks."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, TypeVar

from torch.utils.data import Dataset

from revelio.errors import InputError

Sample = TypeVar("Sample")


class GeneratedDataset(Dataset[Sample]):
    """Items rendered on demand; ``__getitems__`` renders a whole DataLoader batch at once.

    Subclasses give :attr:`name` (for messages) and :meth:`render_items`.

    Args:
        size: number of items.
        seed: dataset seed; item ``i`` is a function of ``(seed, i)`` only.
    """

    name = "generated"

    def __init__(self, size: int, seed: int) -> None:
        if size < 0:
            raise InputError(f"dataset size must be >= 0, got {size}")
        self.size = size
        self.seed = seed

    @abstractmethod
    def render_items(self, indices: list[int]) -> Any:
        """A batch (with a ``sample(k)`` method) of the items ``indices`` of this dataset's seed."""

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Sample:
        return self.render_items([self._check_index(index)]).sample(0)

    def __getitems__(self, indices: Sequence[int]) -> list[Sample]:
        batch = self.render_items([self._check_index(i) for i in indices])
        return [batch.sample(k) for k in range(batch.images.shape[0])]

    def _check_index(self, index: int) -> int:
        index = int(index)
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(f"{self.name} index {index} out of range for a dataset of {self.size}")
        return index
