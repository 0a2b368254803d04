"""What evaluation needs of a trained model, whatever method made it: :class:`Embedder`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import torch

from reid.data.sample import Modality


class Embedder(Protocol):
    """A model as evaluation sees it (every :class:`~reid.methods.base.ReIDMethod` is one).

    Attributes:
        feature_names: the test features :meth:`extract` returns; a model may also define
            ``distance(name, query, gallery)``, the ``[Q, G]`` distance of feature ``name`` from every extracted
            feature of the query and gallery rows, where plain normalised distances do not apply.
        training: whether the module is in training mode (restored after evaluation).
    """

    feature_names: tuple[str, ...]
    training: bool

    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        """Test-time features of images of one modality: name -> ``[N, D]``, not normalised."""
        ...

    def eval(self) -> Any:
        """Inference mode."""
        ...

    def train(self, mode: bool = True) -> Any:
        """Back to training mode (``mode=True``) or not."""
        ...
