"""ResNet with several modality-specific stems and one shared body: the backbone of AGW and its heirs.

AGW (Ye et al., TPAMI 2021; model.py, protocols.md sec. 4) builds three ImageNet ResNet-50s: the
``conv1 -> bn1 -> relu -> maxpool`` stem of the first serves visible images, that of the second infrared
images, and ``layer1..layer4`` of the third (last stride 1) are shared. A batch is formed by
concatenating the stems' outputs along the batch axis and running the body once. The papers reuse it:

- CAJ and CMMP's encoder (cmmp.txt Sec. 3.2): AGW's net, 2 stems, non-local blocks, GeM;
- MSCMNet (QFE): 4 stems (visible, visible-augmented, infrared, infrared-augmented), attention blocks that
  read the ``stem``, ``layer1``, ``layer2`` and ``layer3`` outputs and sit between ``layer3`` and ``layer4``
  (run the body in two parts with :meth:`MultiStemResNet.forward_layers` ``start``/``end``);
- FFDML (ffdml.txt Sec. 3.2-3.3): 2 stems, fuses the ``layer1..layer3`` outputs (``return_layers``);
- X-Modality (xiv.txt): ONE weight-shared stream over three modalities, BoT ResNet-50 with last stride 1
  (``num_stems=1``);
- CMFT: TSM wraps ``conv1`` of every Bottleneck; the blocks stay torchvision's, reachable as
  ``model.layer1[i].conv1``.

Any torchvision ResNet depth works with the same code (the smoke profile uses resnet18): channel widths and
strides are read from the modules, never written down. The public surface (``stem``, ``forward_stems``,
``forward_layers``, ``features``, ``layer_channels``, ``layer_reductions``, ``out_channels``) names no
ResNet internals, so another family (X-Modality's DenseNet-121 variant) can offer the same one.

Initialisation: every random initial value comes from the ``torch.Generator`` passed in (torchvision's
ResNet rule: conv ~ kaiming_normal(fan_out, relu), BN weight 1, bias 0), drawn in a fixed order: stems
0..S-1, then layer1..layer4, then the non-local blocks. Two nets built from equal generators therefore
have equal stems and bodies whether or not they have non-local blocks. ImageNet weights, when given, come
from a local file only (:mod:`reid.backbones.pretrained`) and are copied into every stem and the body.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

# reid/__init__.py has imported torchvision through reid.compat before this module runs.
from torchvision.models import resnet as tv_resnet

from reid.backbones.pretrained import load_torchvision_state_dict, match_state_dict
from reid.checks import check_generator, check_positive_integer
from reid.errors import ConfigError
from reid.layers.non_local import NON_LOCAL_EMBEDDINGS, NonLocalBlock, NonLocalEmbedding

SUPPORTED_ARCHS: tuple[str, ...] = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
"""torchvision ResNet depths the backbone accepts."""

LAYER_NAMES: tuple[str, ...] = ("layer1", "layer2", "layer3", "layer4")
"""The shared body's stages, in order."""

FEATURE_NAMES: tuple[str, ...] = ("stem", *LAYER_NAMES)
"""Every map a caller can ask for: the stem output and each stage's output."""

AGW_NON_LOCAL_COUNTS: tuple[int, int, int, int] = (0, 2, 3, 0)
"""AGW's ``non_layers``: non-local blocks after the last 0/2/3/0 blocks of layer1..layer4 (model.py)."""

_STEM_KEYS: tuple[str, ...] = ("conv1.", "bn1.")
_IGNORED_PRETRAINED: tuple[str, ...] = ("fc.",)


def build_torchvision_resnet(arch: str) -> tv_resnet.ResNet:
    """An UNINITIALISED torchvision ResNet of depth ``arch``, built on the meta device.

    Building on the meta device allocates nothing and draws nothing from torch's global generator;
    :func:`reset_resnet_parameters_` then fills the modules a caller keeps. No weights are requested.

    Raises:
        ConfigError: ``arch`` is not in :data:`SUPPORTED_ARCHS`.
    """
    if arch not in SUPPORTED_ARCHS:
        raise ConfigError(f"ResNet arch: expected one of {SUPPORTED_ARCHS}, got {arch!r}")
    with torch.device("meta"):
        return getattr(tv_resnet, arch)(weights=None)


def reset_resnet_parameters_(module: nn.Module, generator: torch.Generator) -> None:
    """torchvision's ResNet initialisation, drawn from ``generator``, on every submodule of ``module``.

    Source: torchvision ``ResNet.__init__`` (conv weight ~ kaiming_normal(mode="fan_out", relu); BN weight 1,
    bias 0; ``zero_init_residual=False``). Running statistics are reset too.

    Raises:
        TypeError: a submodule with parameters of another kind, which this rule would leave unset.
    """
    for sub in module.modules():
        if isinstance(sub, nn.Conv2d):
            nn.init.kaiming_normal_(sub.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.BatchNorm2d):
            reset_batchnorm_(sub)
        elif next(sub.parameters(recurse=False), None) is not None:
            raise TypeError(f"reset_resnet_parameters_: no initialisation rule for {type(sub).__name__}")


def reset_batchnorm_(bn: nn.BatchNorm2d) -> None:
    """torchvision's BatchNorm initialisation (ResNet, DenseNet): weight 1, bias 0, fresh running statistics."""
    bn.reset_running_stats()
    nn.init.ones_(bn.weight)
    nn.init.zeros_(bn.bias)


def set_layer_stride_(layer: nn.Sequential, stride: int) -> None:
    """Set the spatial stride of a ResNet stage (its first block) to ``stride``, in place.

    The stride sits on the first block's strided conv (``conv2`` of a Bottleneck, torchvision's "V1.5"
    placement, as AGW's resnet.py; ``conv1`` of a BasicBlock) and on its downsample conv. Weight shapes do
    not change, so ImageNet weights still load. AGW's ``last_conv_stride=1`` (BoT's "last stride").
    """
    first = layer[0]
    strided = first.conv2 if isinstance(first, tv_resnet.Bottleneck) else first.conv1
    strided.stride = (stride, stride)
    if first.downsample is not None:
        first.downsample[0].stride = (stride, stride)
    first.stride = stride


def non_local_positions(num_blocks: int, count: int) -> tuple[int, ...]:
    """Indices of the blocks a non-local block follows: the last ``count`` blocks of a stage.

    AGW: ``sorted(layers[i] - (j + 1) for j in range(non_layers[i]))`` (model.py), i.e. blocks {2, 3} of
    ResNet-50's layer2 and {3, 4, 5} of layer3. A ``count`` above the stage's block count is capped at it
    (shallow nets, e.g. resnet18's two-block stages, get a block after every block).
    """
    count = min(count, num_blocks)
    return tuple(range(num_blocks - count, num_blocks))


def block_out_channels(block: nn.Module) -> int:
    """Output channels of a residual block: the width of its last main-path BatchNorm (``bn3`` / ``bn2``)."""
    norms = [m for m in block.children() if isinstance(m, nn.BatchNorm2d)]
    return norms[-1].num_features


def block_stride(block: nn.Module) -> int:
    """Spatial stride of a residual block: the product of its main-path conv strides."""
    return math.prod(m.stride[0] for m in block.children() if isinstance(m, nn.Conv2d))


class ResNetStem(nn.Module):
    """One modality-specific stem: ``conv1 -> bn1 -> relu -> maxpool`` of a torchvision ResNet.

    ``[N, 3, H, W] -> [N, 64, H/4, W/4]`` (ceil division by the two stride-2 ops). The attribute names are
    torchvision's, so a ResNet state dict's ``conv1.*`` / ``bn1.*`` entries load as they are.
    """

    def __init__(self, resnet: tv_resnet.ResNet) -> None:
        super().__init__()
        self.conv1 = resnet.conv1
        self.bn1 = resnet.bn1
        self.relu = resnet.relu
        self.maxpool = resnet.maxpool

    @property
    def out_channels(self) -> int:
        return self.bn1.num_features

    @property
    def reduction(self) -> int:
        pool_stride = self.maxpool.stride if isinstance(self.maxpool.stride, int) else self.maxpool.stride[0]
        return self.conv1.stride[0] * pool_stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W] -> [N, C0, H/4, W/4]``."""
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


class MultiStemResNet(nn.Module):
    """``num_stems`` separate ResNet stems feeding one shared ResNet body (AGW's two-stream network).

    Source: AGW model.py ``visible_module`` / ``thermal_module`` / ``base_resnet`` / non-local placement
    (protocols.md sec. 4); MSCMNet's four stems (protocols.md sec. 6).

    Args:
        arch: torchvision depth, one of :data:`SUPPORTED_ARCHS`.
        num_stems: modality-specific stems (1 = one weight-shared stream; 2 = AGW; 4 = MSCMNet).
        last_stride: stride of layer4 (1 as AGW/BoT: 288x144 -> 18x9; 2 = torchvision's).
        non_local: insert AGW's non-local blocks.
        non_local_counts: blocks after the last ``count`` blocks of layer1..layer4 (AGW ``(0, 2, 3, 0)``);
            capped at each stage's block count.
        non_local_embedding: ``"half"`` (``C // 2``, MSCMNet) or ``"agw_one"`` (AGW/CAJ's one channel).
        pretrained: a local torchvision ResNet weights file copied into every stem and the body; ``None``
            starts from scratch (``pretrained_path`` records which).
        generator: the source of every random initial value.

    Attributes:
        stems: ``nn.ModuleList`` of :class:`ResNetStem`, separate parameters each.
        layer1, layer2, layer3, layer4: torchvision's stages (shared).
        non_local: ``nn.ModuleDict`` stage name -> ``nn.ModuleDict`` block index (str) -> NonLocalBlock.
        non_local_positions: stage name -> indices of the blocks followed by a non-local block.
        layer_channels: feature name -> channels (:data:`FEATURE_NAMES`).
        layer_reductions: feature name -> total spatial downsampling of that map.
        out_channels: channels of the layer4 map.
        pretrained_path: the weights file loaded, or ``None``.

    Raises:
        ConfigError: bad arguments (arch, counts, stride, embedding, generator); the weights file errors of
            :func:`reid.backbones.pretrained.load_torchvision_state_dict` and ``match_state_dict``.
    """

    def __init__(
        self,
        arch: str = "resnet50",
        *,
        num_stems: int = 2,
        last_stride: int = 1,
        non_local: bool = False,
        non_local_counts: Sequence[int] = AGW_NON_LOCAL_COUNTS,
        non_local_embedding: NonLocalEmbedding = "half",
        pretrained: str | Path | None = None,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        check_generator(generator, "MultiStemResNet")
        check_positive_integer("MultiStemResNet.num_stems", num_stems)
        if last_stride not in (1, 2):
            raise ConfigError(f"MultiStemResNet.last_stride: expected 1 or 2, got {last_stride!r}")
        counts = tuple(non_local_counts)
        if len(counts) != len(LAYER_NAMES) or any(
            isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts
        ):
            raise ConfigError(
                f"MultiStemResNet.non_local_counts: expected {len(LAYER_NAMES)} non-negative integers "
                f"(one per stage), got {non_local_counts!r}"
            )
        if non_local_embedding not in NON_LOCAL_EMBEDDINGS:
            raise ConfigError(
                f"MultiStemResNet.non_local_embedding: expected one of {NON_LOCAL_EMBEDDINGS}, "
                f"got {non_local_embedding!r}"
            )
        self.arch = arch
        self.num_stems = num_stems
        self.last_stride = last_stride
        self.non_local_embedding = non_local_embedding

        # One torchvision instance per stem and one for the body, as AGW builds separate ResNets.
        self.stems = nn.ModuleList(ResNetStem(build_torchvision_resnet(arch)) for _ in range(num_stems))
        body = build_torchvision_resnet(arch)
        self.layer1, self.layer2, self.layer3, self.layer4 = body.layer1, body.layer2, body.layer3, body.layer4
        set_layer_stride_(self.layer4, last_stride)
        self.stems.to_empty(device="cpu")
        for name in LAYER_NAMES:
            self.get_submodule(name).to_empty(device="cpu")
        for stem in self.stems:
            reset_resnet_parameters_(stem, generator)
        for name in LAYER_NAMES:
            reset_resnet_parameters_(self.get_submodule(name), generator)

        self.non_local_positions: dict[str, tuple[int, ...]] = {
            name: non_local_positions(len(self.get_submodule(name)), count) if non_local else ()
            for name, count in zip(LAYER_NAMES, counts)
        }
        self.non_local = nn.ModuleDict()
        for name, positions in self.non_local_positions.items():
            if positions:
                layer = self.get_submodule(name)
                self.non_local[name] = nn.ModuleDict(
                    {
                        str(i): NonLocalBlock.from_embedding(
                            block_out_channels(layer[i]), non_local_embedding, generator=generator
                        )
                        for i in positions
                    }
                )

        self.layer_channels: dict[str, int] = {"stem": self.stems[0].out_channels}
        self.layer_reductions: dict[str, int] = {"stem": self.stems[0].reduction}
        reduction = self.layer_reductions["stem"]
        for name in LAYER_NAMES:
            layer = self.get_submodule(name)
            reduction *= math.prod(block_stride(block) for block in layer)
            self.layer_channels[name] = block_out_channels(layer[-1])
            self.layer_reductions[name] = reduction
        self.out_channels: int = self.layer_channels["layer4"]

        # Blocks a method inserts after a stage (insert_after): none until one asks.
        self.between = nn.ModuleDict()

        self.pretrained_path: Path | None = None
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def insert_after(self, stage: str, module: nn.Module) -> None:
        """Run ``module`` on the output of ``stage`` (``layer1``..``layer3``: between stages; ``layer4``: after the
        body), e.g. attention blocks between stages. Its parameters train at the backbone rate unless the method
        puts them in another group.

        Raises:
            ConfigError: an unknown stage, or one that already has an inserted module.
        """
        if stage not in LAYER_NAMES:
            raise ConfigError(f"insert_after: expected a stage among {LAYER_NAMES}, got {stage!r}")
        if stage in self.between:
            raise ConfigError(f"insert_after: stage {stage!r} already has {type(self.between[stage]).__name__}")
        self.between[stage] = module

    def wrap_blocks(self, stage: str, wrap: Callable[[int, nn.Module], nn.Module]) -> None:
        """Replace each residual block ``i`` of ``stage`` by ``wrap(i, block)`` (a temporal shift inside each block,
        for example); the wrapper keeps the block's output channels and stride.

        Raises:
            ConfigError: an unknown stage.
        """
        if stage not in LAYER_NAMES:
            raise ConfigError(f"wrap_blocks: expected a stage among {LAYER_NAMES}, got {stage!r}")
        layer = self.get_submodule(stage)
        for i in range(len(layer)):
            layer[i] = wrap(i, layer[i])

    def load_pretrained(self, path: str | Path) -> None:
        """Copy a local torchvision ResNet state dict of this ``arch`` into EVERY stem and the body.

        The ImageNet classifier (``fc.*``) is ignored; the non-local blocks keep their initialisation
        (AGW adds them untrained). Each stem receives its own copy (no shared storage).

        Raises:
            PretrainedWeightsError: missing/unreadable file, missing or unexpected keys, wrong shapes.
        """
        path = Path(path)
        reference = build_torchvision_resnet(self.arch).state_dict()
        expected = {k: v.shape for k, v in reference.items() if not k.startswith(_IGNORED_PRETRAINED)}
        state = match_state_dict(load_torchvision_state_dict(path), expected, path, _IGNORED_PRETRAINED)
        stem_state = {k: v for k, v in state.items() if k.startswith(_STEM_KEYS)}
        for stem in self.stems:
            stem.load_state_dict(stem_state)
        for name in LAYER_NAMES:
            prefix = name + "."
            self.get_submodule(name).load_state_dict(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )
        self.pretrained_path = path

    def stem(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """Stem ``index``: ``[N, 3, H, W] -> [N, C0, H/4, W/4]`` (C0 = 64 for torchvision ResNets).

        Raises:
            ConfigError: ``index`` is not a stem index.
        """
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.num_stems:
            raise ConfigError(f"stem index: expected an integer in [0, {self.num_stems}), got {index!r}")
        return self.stems[index](x)

    def forward_stems(self, inputs: Sequence[torch.Tensor], indices: Sequence[int] | None = None) -> torch.Tensor:
        """Each input through its stem, concatenated along the batch: AGW's ``cat(stem_v(x_v), stem_t(x_t))``.

        Consecutive inputs routed to the same stem go through it as one batch, as CAJ's train_ext.py runs the
        visible stem once on ``cat(rgb, rgb_exchanged)``: in training mode the stem's BatchNorm then normalises
        them with one set of batch statistics (docs/decisions.md, "CAJ's visible stem runs once on both views").

        Args:
            inputs: ``[N_i, 3, H, W]`` tensors (same H, W).
            indices: the stem of each input; ``0, 1, ...`` in order when ``None``.

        Returns:
            ``[sum N_i, C0, H/4, W/4]``, rows in the order of ``inputs``.

        Raises:
            ConfigError: no input, or ``indices`` of another length or out of range.
        """
        if not inputs:
            raise ConfigError("forward_stems: expected at least one input tensor")
        indices = range(len(inputs)) if indices is None else indices
        if len(indices) != len(inputs):
            raise ConfigError(f"forward_stems: {len(inputs)} inputs but {len(indices)} stem indices")
        runs: list[tuple[int, list[torch.Tensor]]] = []
        for x, i in zip(inputs, indices):
            if runs and runs[-1][0] == i:
                runs[-1][1].append(x)
            else:
                runs.append((i, [x]))
        return torch.cat([self.stem(xs[0] if len(xs) == 1 else torch.cat(xs), i) for i, xs in runs], dim=0)

    def run_layer(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """One shared stage with its non-local blocks (each follows the block at its index, AGW model.py), then any
        module inserted after the stage (:meth:`insert_after`)."""
        blocks = self._non_local_of(name)
        for i, block in enumerate(self.get_submodule(name)):
            x = block(x)
            key = str(i)
            if key in blocks:
                x = blocks[key](x)
        if name in self.between:
            x = self.between[name](x)
        return x

    def forward_layers(
        self,
        x: torch.Tensor,
        *,
        start: str = "layer1",
        end: str = "layer4",
        return_layers: Sequence[str] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Run the shared stages ``start..end`` (inclusive) on ``x``, the input of ``start``.

        ``forward_layers(stem_out)`` is the whole body; ``forward_layers(s, end="layer3", return_layers=
        ("stem", "layer1", "layer2", "layer3"))`` then ``forward_layers(m, start="layer4")`` lets a method
        work between layer3 and layer4 (MSCMNet).

        Args:
            x: the input of ``start``: ``[N, C, H, W]``.
            start: first stage to run.
            end: last stage to run.
            return_layers: which maps to return, among the stages run, plus ``"stem"`` (= ``x``) when
                ``start == "layer1"``; ``(end,)`` when ``None``.

        Returns:
            Name -> map, in the order of ``return_layers``.

        Raises:
            ConfigError: unknown stage names, ``start`` after ``end``, or a map outside the range run.
        """
        for arg, value in (("start", start), ("end", end)):
            if value not in LAYER_NAMES:
                raise ConfigError(f"forward_layers.{arg}: expected one of {LAYER_NAMES}, got {value!r}")
        first, last = LAYER_NAMES.index(start), LAYER_NAMES.index(end)
        if first > last:
            raise ConfigError(f"forward_layers: start={start!r} comes after end={end!r}")
        run = LAYER_NAMES[first : last + 1]
        wanted = (end,) if return_layers is None else tuple(return_layers)
        available = (("stem",) if start == "layer1" else ()) + run
        outside = [name for name in wanted if name not in available]
        if outside or not wanted:
            raise ConfigError(f"forward_layers.return_layers: expected names among {available}, got {wanted!r}")
        maps = {"stem": x} if "stem" in wanted else {}
        for name in run:
            x = self.run_layer(name, x)
            maps[name] = x
        return {name: maps[name] for name in wanted}

    def features(
        self, x: torch.Tensor, stem_index: int = 0, *, return_layers: Sequence[str] = ("layer4",)
    ) -> dict[str, torch.Tensor]:
        """Stem ``stem_index`` then the body up to the deepest requested map; ``return_layers`` from
        :data:`FEATURE_NAMES`. Returns name -> map in the order asked.

        Raises:
            ConfigError: unknown names or stem index.
        """
        wanted = tuple(return_layers)
        unknown = [name for name in wanted if name not in FEATURE_NAMES]
        if unknown or not wanted:
            raise ConfigError(f"features.return_layers: expected names among {FEATURE_NAMES}, got {wanted!r}")
        stem_out = self.stem(x, stem_index)
        deepest = max(FEATURE_NAMES.index(name) for name in wanted)
        if deepest == 0:
            return {"stem": stem_out}
        return self.forward_layers(stem_out, end=FEATURE_NAMES[deepest], return_layers=wanted)

    def forward(self, x: torch.Tensor, stem_index: int = 0) -> torch.Tensor:
        """``[N, 3, H, W] -> [N, out_channels, H/r, W/r]``, r = 16 (last stride 1) or 32 (last stride 2)."""
        return self.forward_layers(self.stem(x, stem_index))["layer4"]

    def _non_local_of(self, name: str) -> nn.ModuleDict | dict[str, nn.Module]:
        return self.non_local[name] if name in self.non_local else {}

    def extra_repr(self) -> str:
        return (
            f"arch={self.arch!r}, num_stems={self.num_stems}, last_stride={self.last_stride}, "
            f"non_local_positions={self.non_local_positions}, non_local_embedding={self.non_local_embedding!r}, "
            f"pretrained_path={self.pretrained_path}"
        )
