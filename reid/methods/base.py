"""What every method offers the engine: its training views, its loss, its test features and its paper config, and
what it declares it needs: its entry resize, input kind, sampler, parameter groups, schedule, options and any
earlier stage. The engine reads these declarations; adding a method is one file in reid/methods/."""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn

from reid.config import OptimConfig, RunConfig
from reid.data.batch import TrainBatch, ViewSpec
from reid.data.sample import Modality
from reid.errors import ConfigError

INPUT_KINDS = ("images", "clips")
"""What a method's training and test inputs are: single images, or clips of T frames of a tracklet (video)."""


@dataclass(frozen=True)
class ParameterGroup:
    """Parameters trained at one learning rate.

    Attributes:
        name: the group's name in the run record (``backbone``, ``heads``, ...).
        params: the parameters (each in exactly one group of the method).
        lr: its base rate, before the schedule's factor.
    """

    name: str
    params: list[nn.Parameter]
    lr: float


@dataclass(frozen=True)
class StepOutput:
    """What one training step computed.

    Attributes:
        loss: the scalar to back-propagate.
        parts: named loss terms (detached) for the per-epoch record, e.g. ``{"id": .., "wrt": ..}``.
    """

    loss: torch.Tensor
    parts: Mapping[str, torch.Tensor]


class ReIDMethod(nn.Module, abc.ABC):
    """A VI-ReID method: a network, its training objective and its test-time features.

    Constructors take explicit keyword arguments, among them ``generator`` (a ``torch.Generator``
    every initial weight is drawn from); :meth:`from_config` maps a :class:`RunConfig` onto the
    others (detectron2's ``from_config`` pattern), so a method can also be built by hand with
    :func:`reid.methods.create_method`.
    """

    name: ClassVar[str]
    entry_resample: ClassVar[Image.Resampling]
    """The Pillow filter of the one resize at the data entry, the reference code's (AGW/CAJ pre-resize with
    ``Image.ANTIALIAS`` = LANCZOS; BoT and MITML resize bilinearly in torchvision ``Resize``)."""
    input_kind: ClassVar[str] = "images"
    """One of :data:`INPUT_KINDS`."""
    sampler: ClassVar[str] = "identity"
    """The training sampler, a name of :data:`reid.data.pipeline.SAMPLERS` (``identity``: P identities x K
    (visible, infrared) pairs, AGW's cross-modal identity sampler)."""
    schedule: ClassVar[str] = "warmup_multistep"
    """The learning-rate schedule, a name of :data:`reid.engine.schedule.SCHEDULES`, read with ``optim.*``."""
    feature_names: ClassVar[tuple[str, ...]] = ("pool", "bn")
    evaluates: ClassVar[bool] = True
    """False for a stage with no ReID head (CMMP's pre-training): the engine then skips the final evaluation."""
    metric_learning_terms: ClassVar[tuple[str, ...]] = ()
    """Names of the loss parts (:attr:`StepOutput.parts`) that are metric-learning terms (triplets and the like)."""
    _negated_terms: frozenset[str] = frozenset()

    def negate_terms(self, names: Collection[str]) -> None:
        """Flip the sign of the named loss parts from now on: a broken control (the harness's
        ``flipped_metric``), never a training option. :meth:`total_loss` applies it.

        Raises:
            ConfigError: a name that is not one of :attr:`metric_learning_terms`.
        """
        unknown = sorted(set(names) - set(self.metric_learning_terms))
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}: cannot negate {unknown}; its metric-learning terms are "
                f"{list(self.metric_learning_terms)}"
            )
        self._negated_terms = frozenset(names)

    def total_loss(self, parts: Mapping[str, torch.Tensor], weights: Mapping[str, float] | None = None) -> torch.Tensor:
        """The training loss: the sum of ``parts``, each times its weight (default 1), negated terms subtracted."""
        weights = weights or {}
        return sum(
            (-1.0 if name in self._negated_terms else 1.0) * weights.get(name, 1.0) * value
            for name, value in parts.items()
        )

    @classmethod
    @abc.abstractmethod
    def from_config(cls, config: RunConfig, num_classes: int) -> dict[str, Any]:
        """Constructor keyword arguments for ``config`` and ``num_classes`` training identities."""

    @classmethod
    @abc.abstractmethod
    def paper_config(cls) -> RunConfig:
        """The paper's configuration, each value citing the section it comes from."""

    @classmethod
    def option_values(cls) -> dict[str, Any]:
        """The method's options (``method_options``) with their paper values: those of :meth:`paper_config`,
        which names every option the method reads (a key it lacks is refused when a config is built)."""
        return dict(cls.paper_config().method_options)

    @classmethod
    def smoke_overrides(cls) -> tuple[str, ...]:
        """``key=value`` overrides the smoke profile adds on top of the shared smoke sizes."""
        return ()

    @classmethod
    def unsupported(cls, config: RunConfig) -> str | None:
        """Why this suite cannot run ``config`` yet (a part the paper describes that is not implemented),
        or ``None``; the benchmark harness skips such rows with this reason."""
        return None

    @classmethod
    def pretraining(cls, config: RunConfig) -> RunConfig | None:
        """The run this method's training starts from (CMMP's pre-training), or ``None``.

        The engine runs (or reuses) that run first, in the same runs folder and process group, and
        passes its final weights to :meth:`load_pretraining` before the first epoch.
        """
        return None

    def load_pretraining(self, state: Mapping[str, torch.Tensor]) -> None:
        """Initialise from the final state dict of the :meth:`pretraining` run.

        Raises:
            ConfigError: this method declares no pre-training stage (the engine never calls it then).
        """
        raise ConfigError(f"{type(self).__name__} declares no pre-training stage; it cannot load one")

    @abc.abstractmethod
    def train_views(self, height: int, width: int) -> Mapping[str, ViewSpec]:
        """The views every training pair yields, in the order the network consumes them."""

    @abc.abstractmethod
    def training_step(self, batch: TrainBatch) -> StepOutput:
        """Forward the batch and compute the training loss (the module is in train mode)."""

    @abc.abstractmethod
    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        """Test-time features of images of one modality: name -> ``[N, D]``, not normalised.

        Every name of :attr:`feature_names`; a method that defines ``distance`` may add auxiliary
        features it reads there (XIV: the X features of visible images).
        """

    @abc.abstractmethod
    def backbone_parameters(self) -> list[nn.Parameter]:
        """Parameters trained at the backbone rate (pretrained layers); all others get the head rate."""

    def parameter_groups(self, optim: OptimConfig) -> list[ParameterGroup]:
        """The optimiser's groups: by default :meth:`backbone_parameters` at ``optim.backbone_lr`` and every other
        parameter (the new heads) at ``optim.lr``; a method with other rates returns its own groups."""
        backbone = self.backbone_parameters()
        taken = {id(p) for p in backbone}
        heads = [p for p in self.parameters() if id(p) not in taken]
        return [ParameterGroup("backbone", backbone, optim.backbone_lr), ParameterGroup("heads", heads, optim.lr)]
