"""Image decoding. Pillow, not torchvision.io: the latter is unavailable under the compat shim."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from reid.errors import DatasetError


def read_image(path: str | Path) -> Image.Image:
    """Decode an image file fully into an RGB Pillow image.

    Infrared images of SYSU-MM01, RegDB and LLCM are stored as 3-channel or 1-channel
    JPEGs; both come back as 3 equal channels, as the reference code loads them.

    Raises:
        DatasetError: the file is missing or is not a decodable image.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise DatasetError(path, "an image file, found nothing") from None
    except (UnidentifiedImageError, OSError) as err:
        raise DatasetError(path, f"a readable image (JPEG/PNG), got an undecodable file ({err})") from None
