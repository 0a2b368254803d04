"""Test-time features: every record through its own modality's stem, optionally with flip averaging.

Entry as at training (one Pillow resize with the recipe's filter, ``to_tensor``), then the test
pipeline :func:`reid.data.transforms.eval_transform` (size check, ImageNet normalisation), as every
reference tests (protocols.md sec. 1.3, 4).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from reid.checks import check_positive_integer
from reid.data.datasets.base import ImageDataset
from reid.data.sample import Modality, Sample
from reid.data.transforms import Transform, eval_transform, resize, to_tensor
from reid.errors import ConfigError, NonFiniteFeaturesError
from reid.eval.embedder import Embedder


class _TestImages(Dataset):
    """Test images of ``records`` at ``rows``, resized and normalised (no randomness)."""

    def __init__(
        self,
        dataset: ImageDataset,
        records: Sequence[Sample],
        rows: Sequence[int],
        size: tuple[int, int],
        resample: Image.Resampling,
        transform: Transform,
    ) -> None:
        self.dataset = dataset
        self.records = records
        self.rows = rows
        self.size = size
        self.resample = resample
        self.transform = transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.dataset.read(self.records[self.rows[index]])
        return self.transform(to_tensor(resize(image, self.size, resample=self.resample)), None)


def flip_average(method: Embedder, images: torch.Tensor, modality: Modality) -> dict[str, torch.Tensor]:
    """Features averaged over the images and their horizontal mirrors (CAJ ``testa.py``; protocols.md sec. 5).

    Each feature is L2-normalised before the average, as in testa.py, whose network returns ``l2norm`` features
    in eval mode (model.py) and which normalises their mean again (the evaluation's distance does that here).
    Mirroring the normalised image tensor equals normalising the mirror (normalisation is per channel).
    """
    plain = method.extract(images, modality)
    mirrored = method.extract(torch.flip(images, dims=(-1,)), modality)
    return {name: (unit(plain[name]) + unit(mirrored[name])) / 2 for name in plain}


def unit(features: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (AGW/CAJ model.py ``Normalize``), computed in float32."""
    return torch.nn.functional.normalize(features.float(), dim=1)


@contextlib.contextmanager
def eval_mode(method: Embedder) -> Iterator[None]:
    """``method`` in eval mode inside the block; its previous training mode restored after it."""
    was_training = method.training
    method.eval()
    try:
        yield
    finally:
        method.train(was_training)


def extract_features(
    method: Embedder,
    dataset: ImageDataset,
    records: Sequence[Sample],
    *,
    height: int,
    width: int,
    resample: Image.Resampling,
    batch_size: int,
    device: torch.device | str,
    flip: bool = False,
    amp: bool = False,
    num_workers: int = 0,
) -> dict[str, torch.Tensor]:
    """Test features of ``records``, each through ``method.extract`` with its own modality.

    Records are grouped by modality (a batch never mixes stems); results come back in ``records`` order.

    Args:
        method: the trained method; put in eval mode for the extraction, its mode restored after.
        dataset: reads the records.
        records: test images (:class:`Sample`; video tracklets are not supported here).
        height, width: the entry resize (the training size).
        resample: Pillow filter of that resize (the method's ``entry_resample``).
        batch_size: images per forward pass.
        device: where the method runs.
        flip: flip test-time augmentation (:func:`flip_average`).
        amp: autocast to float16 on CUDA (ignored elsewhere).
        num_workers: data-loader processes that decode images (0: in this process).

    Returns:
        Feature name -> ``[N, D]`` float32 on CPU, row i = ``records[i]``, not normalised.

    Raises:
        ConfigError: a record that is not an image Sample, or a bad batch size.
        NonFiniteFeaturesError: a feature with a NaN or infinite value (ranking could not order it).
    """
    check_positive_integer("batch_size", batch_size)
    for record in records:
        if not isinstance(record, Sample):
            raise ConfigError(f"extract_features: expected image Samples, got {type(record).__name__}")
    device = torch.device(device)
    transform = eval_transform(height, width)
    out: dict[str, torch.Tensor] = {}
    autocast = torch.autocast(device.type, dtype=torch.float16, enabled=amp and device.type == "cuda")
    with eval_mode(method), torch.no_grad(), autocast:
        for modality in Modality:
            rows = [i for i, r in enumerate(records) if r.modality is modality]
            if not rows:
                continue
            images = _TestImages(dataset, records, rows, (height, width), resample, transform)
            # A generator of its own: by default every DataLoader iteration draws its worker seed from
            # torch's global generator. Test images draw nothing, so any fixed seed does.
            loader = DataLoader(
                images, batch_size=batch_size, num_workers=num_workers, generator=torch.Generator().manual_seed(0)
            )
            start = 0
            for batch in loader:
                batch = batch.to(device, non_blocking=True)
                feats = flip_average(method, batch, modality) if flip else method.extract(batch, modality)
                index = torch.tensor(rows[start : start + len(batch)])
                for name, value in feats.items():
                    if name not in out:
                        out[name] = torch.zeros(len(records), value.shape[1], dtype=torch.float32)
                    out[name][index] = value.float().cpu()
                start += len(batch)
    for name, value in out.items():
        bad = (~torch.isfinite(value)).any(dim=1).nonzero().flatten().tolist()
        if bad:
            first = records[bad[0]]
            raise NonFiniteFeaturesError(name, len(bad), len(records), f"{first.path}, {first.modality.value}")
    return out
