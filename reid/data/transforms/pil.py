"""The entry from Pillow: resize a decoded image, then turn it into the float tensor every transform takes.

AGW, CAJ and MSCMNet resize each image once with Pillow's ``ANTIALIAS`` filter (an alias of
``LANCZOS``, removed in Pillow 10) before any augmentation (AGW ``pre_process_sysu.py`` and
``RegDBData``; protocols.md sec. 4-6); their pipelines then only pad, crop and flip at that size.
The BoT baseline (XIV) and MITML resize inside the pipeline with torchvision's default bilinear
filter instead: pass ``resample=BILINEAR`` for those recipes.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from reid.errors import ConfigError

LANCZOS = Image.Resampling.LANCZOS
"""Pillow's former ``ANTIALIAS``: the filter AGW/CAJ/MSCMNet pre-resize with."""
BILINEAR = Image.Resampling.BILINEAR
"""torchvision ``Resize``'s default on PIL images: the filter BoT (XIV) and MITML resize with."""


def resize(image: Image.Image, size: tuple[int, int], *, resample: Image.Resampling = LANCZOS) -> Image.Image:
    """Resize a Pillow image to ``size = (height, width)``.

    Note the order: Pillow's own ``Image.resize`` takes ``(width, height)``; the reference
    calls ``img.resize((144, 288), Image.ANTIALIAS)`` for a 288 x 144 (h x w) image.

    Raises:
        ConfigError: ``size`` is not two positive integers.
    """
    height, width = _check_size(size)
    return image.resize((width, height), resample)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB Pillow image as a ``[3, H, W]`` float32 tensor in [0, 1] (torchvision ``ToTensor``: uint8 / 255).

    Raises:
        ConfigError: the image is not in mode ``RGB`` (decode with :func:`reid.data.image.read_image`,
            which converts infrared and grayscale files to 3 equal channels as the reference does).
    """
    if not isinstance(image, Image.Image) or image.mode != "RGB":
        got = image.mode if isinstance(image, Image.Image) else type(image).__name__
        raise ConfigError(f"to_tensor: expected an RGB Pillow image, got {got}")
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if (
        not isinstance(size, tuple)
        or len(size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise ConfigError(f"size: expected (height, width) as two positive integers, got {size!r}")
    return size
