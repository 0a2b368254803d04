"""The identities and camera scenes of one synthetic data set, drawn lazily from its seed and cached.

Both synthetic data sets (images and video) render through a :class:`SyntheticWorld`: it
owns the renderer and hands out each identity's appearance and each camera's scene, each
from its own derived generator (:func:`reid.data.synthetic.seeds.derive_rng`), so a
cache miss and a cache hit give the same object contents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reid.data.sample import Modality
from reid.data.synthetic.person import PersonAppearance, sample_appearance
from reid.data.synthetic.renderer import PersonRenderer, View
from reid.data.synthetic.scene import CameraScene, SceneKind, draw_scene
from reid.data.synthetic.seeds import Stream, check_seed, derive_rng


@dataclass(frozen=True)
class CameraSpec:
    """A synthetic camera.

    Attributes:
        camid: the camera number records carry.
        modality: what it records.
        kind: indoor or outdoor.
        place: the layout it looks at; cameras with the same place share a background.
    """

    camid: int
    modality: Modality
    kind: SceneKind
    place: int


class SyntheticWorld:
    """Identities and cameras of one synthetic data set.

    Args:
        seed: the data set seed (non-negative integer).
        height, width: image size.
        modality_gap: infrared's weight of the colour-independent thermal term, in [0, 1].

    Raises:
        ConfigError: a bad seed, size or gap.
    """

    def __init__(self, seed: int, height: int, width: int, modality_gap: float) -> None:
        self.seed = check_seed(seed)
        self.renderer = PersonRenderer(height, width, modality_gap)
        self._people: dict[int, PersonAppearance] = {}
        self._scenes: dict[tuple[int, Modality], CameraScene] = {}

    def appearance(self, pid: int) -> PersonAppearance:
        """Identity ``pid``'s looks and gait (the same for every camera and image)."""
        person = self._people.get(pid)
        if person is None:
            person = self._people[pid] = sample_appearance(derive_rng(self.seed, Stream.APPEARANCE, pid))
        return person

    def scene(self, camera: CameraSpec) -> CameraScene:
        """``camera``'s background and light: layout from its place, light from the camera itself."""
        key = (camera.camid, camera.modality)
        scene = self._scenes.get(key)
        if scene is None:
            scene = self._scenes[key] = draw_scene(
                camera.kind,
                camera.modality,
                self.renderer.height,
                self.renderer.width,
                layout_rng=derive_rng(self.seed, Stream.SCENE, camera.place),
                light_rng=derive_rng(
                    self.seed, Stream.SCENE, camera.place, camera.camid, _modality_code(camera.modality)
                ),
            )
        return scene

    def render(self, pid: int, camera: CameraSpec, view: View, noise_rng: np.random.Generator) -> np.ndarray:
        """Identity ``pid`` seen by ``camera`` with ``view``: ``uint8 [H, W, 3]``."""
        return self.renderer.render(self.appearance(pid), view, self.scene(camera), noise_rng)


def _modality_code(modality: Modality) -> int:
    return 1 if modality is Modality.VISIBLE else 2
