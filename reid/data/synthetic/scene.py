"""Camera scenes of the synthetic data: a fixed background layout and a light per camera.

Each camera looks at one place (a room or a street) drawn once from the camera's
generator; images of that camera crop it at a jittered offset and light it with jittered
brightness, so backgrounds are camera-specific, as in SYSU-MM01, without being identical.
Two cameras in the same place share a layout (SYSU-MM01's infrared camera 3 is in the
room of visible camera 2) but keep their own light and sensor.
"""

from __future__ import annotations

import colorsys
import enum
from dataclasses import dataclass

import numpy as np

from reid.data.sample import Modality


class SceneKind(enum.StrEnum):
    """Where a camera stands: the palette and furniture of its background."""

    INDOOR = "indoor"
    OUTDOOR = "outdoor"


@dataclass(frozen=True, eq=False)
class CameraScene:
    """One camera's background and light.

    Attributes:
        kind: indoor or outdoor.
        modality: what the sensor records.
        layout: ``[H, W + margin, 3]`` background colours in [0, 1]; images crop ``W`` columns.
        cast: ``[3]`` per-channel gain of the camera's light (visible cameras: warm indoor
            lamps, cooler daylight outdoors); ones for infrared cameras.
        ir_contrast, ir_offset: how the background reads in infrared: intensity =
            ``ir_contrast * luminance + ir_offset`` (near-infrared scenes are dim and flat).
        noise: sensor noise standard deviation on the [0, 1] scale.
    """

    kind: SceneKind
    modality: Modality
    layout: np.ndarray
    cast: np.ndarray
    ir_contrast: float
    ir_offset: float
    noise: float


def scene_margin(width: int) -> int:
    """Extra layout columns beyond the image width, the room for per-image crop jitter."""
    return max(2, width // 2)


def draw_scene(
    kind: SceneKind,
    modality: Modality,
    height: int,
    width: int,
    layout_rng: np.random.Generator,
    light_rng: np.random.Generator,
) -> CameraScene:
    """Draw a camera's scene.

    Args:
        kind: indoor or outdoor.
        modality: the camera's sensor.
        height, width: image size; the layout is ``scene_margin(width)`` columns wider.
        layout_rng: the generator of the place (shared by cameras in the same place).
        light_rng: the generator of this camera's light and sensor.
    """
    full_width = width + scene_margin(width)
    if kind is SceneKind.INDOOR:
        layout = _indoor_layout(height, full_width, layout_rng)
        cast = np.array([1.06, 1.0, 0.86], dtype=np.float32)
    else:
        layout = _outdoor_layout(height, full_width, layout_rng)
        cast = np.array([0.94, 1.0, 1.08], dtype=np.float32)
    cast = cast * light_rng.uniform(0.94, 1.06, size=3).astype(np.float32)
    if modality is Modality.INFRARED:
        cast = np.ones(3, dtype=np.float32)
    return CameraScene(
        kind=kind,
        modality=modality,
        layout=layout,
        cast=cast,
        ir_contrast=float(light_rng.uniform(0.3, 0.6)),
        ir_offset=float(light_rng.uniform(0.05, 0.25)),
        noise=float(light_rng.uniform(0.035, 0.06) if modality is Modality.INFRARED else light_rng.uniform(0.01, 0.03)),
    )


def _rgb(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _fill_rect(img: np.ndarray, top: float, bottom: float, left: float, right: float, colour: np.ndarray) -> None:
    h, w = img.shape[:2]
    r0, r1 = int(np.clip(top * h, 0, h)), int(np.clip(bottom * h, 0, h))
    c0, c1 = int(np.clip(left * w, 0, w)), int(np.clip(right * w, 0, w))
    img[r0:r1, c0:c1] = colour


def _indoor_layout(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A room: a muted wall with doors, windows and posters, a floor, light falling off downwards."""
    rows = (np.arange(height, dtype=np.float32) + 0.5) / height
    img = np.empty((height, width, 3), dtype=np.float32)
    img[:] = _rgb(rng.uniform(0.0, 1.0), rng.uniform(0.03, 0.25), rng.uniform(0.55, 0.9))
    for _ in range(int(rng.integers(2, 5))):
        top = rng.uniform(0.05, 0.45)
        left = rng.uniform(-0.1, 0.9)
        colour = _rgb(rng.uniform(0.0, 1.0), rng.uniform(0.1, 0.7), rng.uniform(0.2, 0.9))
        _fill_rect(img, top, top + rng.uniform(0.15, 0.5), left, left + rng.uniform(0.1, 0.35), colour)
    horizon = rng.uniform(0.62, 0.8)
    floor = rows >= horizon
    img[floor] = _rgb(rng.uniform(0.0, 1.0), rng.uniform(0.05, 0.35), rng.uniform(0.25, 0.6))
    # Floor tiles: a faint grid, so the floor is not a flat colour.
    tiles = (np.floor(np.arange(width) / max(2, width // 6)) % 2).astype(np.float32)
    img[floor] *= (0.92 + 0.08 * tiles)[None, :, None]
    _fill_rect(img, horizon - 0.015, horizon, 0.0, 1.0, _rgb(0.0, 0.0, rng.uniform(0.15, 0.4)))
    img *= (1.08 - 0.25 * rows)[:, None, None]
    return np.clip(img, 0.0, 1.0)


def _outdoor_layout(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A street: sky, buildings and trees up to the horizon, pavement or road below."""
    rows = (np.arange(height, dtype=np.float32) + 0.5) / height
    cols = (np.arange(width, dtype=np.float32) + 0.5) / width
    img = np.empty((height, width, 3), dtype=np.float32)
    sky_top = _rgb(rng.uniform(0.55, 0.62), rng.uniform(0.1, 0.5), rng.uniform(0.7, 1.0))
    sky_low = _rgb(rng.uniform(0.55, 0.62), rng.uniform(0.0, 0.2), rng.uniform(0.8, 1.0))
    t = np.clip(rows / 0.5, 0.0, 1.0)[:, None, None]
    img[:] = sky_top * (1 - t) + sky_low * t
    horizon = rng.uniform(0.5, 0.68)
    for _ in range(int(rng.integers(2, 5))):
        left = rng.uniform(-0.1, 0.9)
        colour = _rgb(rng.uniform(0.0, 0.15), rng.uniform(0.0, 0.3), rng.uniform(0.35, 0.8))
        _fill_rect(img, rng.uniform(0.05, horizon - 0.1), horizon, left, left + rng.uniform(0.15, 0.45), colour)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0.2, horizon), rng.uniform(0.0, 1.0)
        ry, rx = rng.uniform(0.08, 0.2), rng.uniform(0.1, 0.3)
        crown = ((rows[:, None] - cy) / ry) ** 2 + ((cols[None, :] - cx) / rx) ** 2 <= 1.0
        img[crown] = _rgb(rng.uniform(0.22, 0.4), rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.6))
    ground = rows >= horizon
    img[ground] = _rgb(rng.uniform(0.0, 0.12), rng.uniform(0.0, 0.35), rng.uniform(0.3, 0.65))
    # Paving slabs: faint horizontal bands that get wider towards the camera.
    bands = (np.floor(np.sqrt(np.clip(rows - horizon, 0.0, None)) * 12.0) % 2).astype(np.float32)
    img *= (1.0 - 0.07 * bands * ground)[:, None, None]
    return np.clip(img, 0.0, 1.0)
