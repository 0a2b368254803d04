"""A bounded memory of rendered synthetic images, so a run does not render the same image twice.

Rendering one image takes about 1 ms of CPU: on a 2-core machine an eighth of what a smoke-profile
training step spends per image, and the largest part of the data path; a training run reads each
image about twice per epoch. An image is a pure function of its key (see
:mod:`reid.data.synthetic.seeds`), so keeping it changes no pixel and no result.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

from reid.checks import check_integer

DEFAULT_CAPACITY = 4096
"""Images kept by default: all 810 of the default synthetic image layout; at most ~100 MB at 128x64."""


class RenderCache:
    """The ``capacity`` most recently used rendered images, by key (least recently used goes first).

    Cached arrays are read-only: callers that change pixels copy first (``PIL.Image.fromarray``
    of an RGB array always copies). Each data-loader worker holds its own cache.

    Args:
        capacity: images kept; 0 keeps none.

    Raises:
        ConfigError: a negative or non-integer capacity.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = check_integer("render_cache capacity", capacity, 0)
        self._images: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._images)

    def get(self, key: Hashable, render: Callable[[], np.ndarray]) -> np.ndarray:
        """The image of ``key``: the kept one, or ``render()``'s output (then kept)."""
        image = self._images.get(key)
        if image is not None:
            self._images.move_to_end(key)
            return image
        image = render()
        image.setflags(write=False)
        if self.capacity:
            self._images[key] = image
            if len(self._images) > self.capacity:
                self._images.popitem(last=False)
        return image
