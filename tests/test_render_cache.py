import numpy as np
import pytest

from reid.data.datasets.synthetic import SyntheticVIReID
from reid.data.synthetic.cache import RenderCache
from reid.errors import ConfigError

SMALL = {"num_train_ids": 4, "num_test_ids": 2, "height": 64, "width": 32}


class CountingRender:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, key: int):
        def render() -> np.ndarray:
            self.calls.append(key)
            return np.full((2, 2, 3), key, dtype=np.uint8)

        return render


def test_keeps_the_most_recently_used_images_up_to_capacity() -> None:
    cache, render = RenderCache(2), CountingRender()
    for key in (1, 2, 1, 3, 1, 2):
        assert cache.get(key, render(key))[0, 0, 0] == key
    # 2 was least recently used when 3 came in, so it is rendered again; 1 never is.
    assert render.calls == [1, 2, 3, 2]
    assert len(cache) == 2


def test_zero_capacity_renders_every_time() -> None:
    cache, render = RenderCache(0), CountingRender()
    cache.get(5, render(5))
    cache.get(5, render(5))
    assert render.calls == [5, 5] and len(cache) == 0


def test_kept_images_cannot_be_changed_in_place() -> None:
    cache, render = RenderCache(1), CountingRender()
    image = cache.get(7, render(7))
    with pytest.raises(ValueError, match="read-only"):
        image[0, 0, 0] = 0


@pytest.mark.parametrize("capacity", [-1, 1.5, True, "8"])
def test_bad_capacity_is_refused(capacity) -> None:
    with pytest.raises(ConfigError, match="capacity"):
        RenderCache(capacity)


def test_synthetic_reads_render_once_and_give_the_same_pixels_as_without_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cached, uncached = SyntheticVIReID(**SMALL), SyntheticVIReID(**SMALL, render_cache=0)
    samples = cached.train[:3] + cached.test[:2]
    renders: list[tuple[int, int, int]] = []
    render = cached.render
    monkeypatch.setattr(cached, "render", lambda *key: renders.append(key) or render(*key))
    for _ in range(2):
        for sample in samples:
            first = cached.read(sample)
            np.testing.assert_array_equal(np.asarray(first), np.asarray(uncached.read(sample)))
            # A caller drawing on the image it got does not change what the next read returns.
            first.paste((255, 0, 0), (0, 0, 4, 4))
    for sample in samples:
        np.testing.assert_array_equal(np.asarray(cached.read(sample)), np.asarray(uncached.read(sample)))
    assert renders == [(s.camid, s.pid, s.instance) for s in samples]
