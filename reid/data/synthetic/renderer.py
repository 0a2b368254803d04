"""Procedural rendering of a synthetic person on a camera's background, in visible or infrared light.

The body is painted into a label map (:class:`reid.data.synthetic.person.Region` per
pixel, :mod:`reid.data.synthetic.painter`); colours, garment patterns and thermal intensities
are then looked up per label with vectorised numpy, so an image costs a few dozen array
operations (about 0.5 ms at 128x64 on one CPU core; see docs/decisions.md).

Infrared (:func:`infrared_intensity`): a single intensity replicated to three channels,
``(1 - gap) * luminance(visible colours) + gap * thermal``, where the thermal term is an
identity's per-region intensity, unrelated to its colours, darkened by its garment
pattern. At ``modality_gap = 0`` infrared is the grey version of visible; at 1 it keeps
only shape, texture and the identity's thermal signature, never its colours.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from reid.data.sample import Modality
from reid.data.synthetic.painter import BodyFrame, paint_body
from reid.data.synthetic.person import NUM_REGIONS, Pattern, PatternKind, PersonAppearance, Region
from reid.data.synthetic.scene import CameraScene, scene_margin
from reid.errors import ConfigError

# RGB -> luma weights of ITU-R BT.601 (Pillow's "L" conversion), as a grey camera would see.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_MIN_HEIGHT, _MIN_WIDTH = 16, 8


@dataclass(frozen=True)
class View:
    """Per-image jitter: where and how one image shows its person.

    Attributes:
        phase: gait phase in radians (sets leg and arm swing through the identity's gait).
        scale: body height of the tallest person over the image height.
        shift_x: horizontal offset of the body's midline, fraction of the image width.
        foot_margin: gap below the feet, fraction of the image height.
        mirror: the person faces the other way (bag on the other side).
        crop: where the image window sits in the scene's margin, 0..1.
        brightness: overall light level.
        tint: per-channel light jitter on top of the camera's cast.
        ir_gain: infrared exposure jitter.
    """

    phase: float
    scale: float
    shift_x: float
    foot_margin: float
    mirror: bool
    crop: float
    brightness: float
    tint: tuple[float, float, float]
    ir_gain: float


def sample_view(rng: np.random.Generator) -> View:
    """Draw the jitter of one image from its own generator."""
    return View(
        phase=float(rng.uniform(0.0, 2.0 * math.pi)),
        scale=float(rng.uniform(0.78, 0.94)),
        shift_x=float(rng.uniform(-0.08, 0.08)),
        foot_margin=float(rng.uniform(0.01, 0.05)),
        mirror=bool(rng.random() < 0.5),
        crop=float(rng.random()),
        brightness=float(rng.uniform(0.7, 1.15)),
        tint=tuple(float(x) for x in rng.uniform(0.94, 1.06, size=3)),  # type: ignore[arg-type]
        ir_gain=float(rng.uniform(0.85, 1.15)),
    )


def check_modality_gap(value: object) -> float:
    """Validate ``modality_gap``: a finite number in [0, 1].

    Raises:
        ConfigError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"modality_gap: expected a number in [0, 1], got {value!r}")
    return float(value)


def check_image_size(height: object, width: object) -> tuple[int, int]:
    """Validate the rendered image size (at least 16x8, so every body part covers a pixel).

    Raises:
        ConfigError: a size that is not an integer or is too small.
    """
    for name, value, low in (("height", height, _MIN_HEIGHT), ("width", width, _MIN_WIDTH)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ConfigError(f"{name}: expected an integer >= {low}, got {value!r}")
    return int(height), int(width)  # type: ignore[arg-type]


def infrared_intensity(luminance: np.ndarray, thermal: np.ndarray, modality_gap: float) -> np.ndarray:
    """Infrared intensity of the person: the data set's modality-gap model.

    ``(1 - gap) * luminance + gap * thermal``: the visible luminance carries what a grey
    camera would see, the thermal term what only an infrared sensor sees. Both terms are
    modulated by the garment pattern upstream, so texture survives at any gap.
    """
    return (1.0 - modality_gap) * luminance + modality_gap * thermal


def sensor_noise(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """Zero-mean noise of standard deviation ``std``, ``float32``.

    Uniform on ``[-sqrt(3) std, sqrt(3) std]`` rather than Gaussian: the shape of sensor
    noise does not matter here, and uniform draws cost a third of normal ones.
    """
    half = np.float32(math.sqrt(3.0) * std)
    return (rng.random(shape, dtype=np.float32) * 2.0 - 1.0) * half


def pattern_value(pattern: Pattern, u: np.ndarray, v: np.ndarray) -> np.ndarray | float:
    """Where a garment shows its second colour, in [0, 1], at body coordinates ``u`` (down), ``v`` (across).

    Edges are soft (a clipped sine) so the pattern does not alias into noise at 64x32.
    """
    if pattern.kind is PatternKind.PLAIN:
        return 0.0
    omega = np.float32(2.0 * math.pi * pattern.frequency)
    cos_a, sin_a = np.float32(math.cos(pattern.angle)), np.float32(math.sin(pattern.angle))
    across = np.sin(omega * (v * cos_a + u * sin_a))
    if pattern.kind is PatternKind.STRIPES:
        return np.clip(0.5 + 2.0 * across, 0.0, 1.0)
    grid = across * np.sin(omega * (u * cos_a - v * sin_a))
    if pattern.kind is PatternKind.CHECKS:
        return np.clip(0.5 + 2.0 * grid, 0.0, 1.0)
    return np.clip(4.0 * (grid - 0.45), 0.0, 1.0)


class PersonRenderer:
    """Renders :class:`PersonAppearance` s at a fixed size and modality gap.

    Args:
        height, width: image size in pixels (default data sets: 128x64, aspect 2:1 like 288x144).
        modality_gap: weight of the colour-independent thermal term in infrared, in [0, 1].

    Raises:
        ConfigError: a size below 16x8 or a gap outside [0, 1].
    """

    def __init__(self, height: int = 128, width: int = 64, modality_gap: float = 0.5) -> None:
        self.height, self.width = check_image_size(height, width)
        self.modality_gap = check_modality_gap(modality_gap)

    def render(
        self,
        appearance: PersonAppearance,
        view: View,
        scene: CameraScene,
        noise_rng: np.random.Generator,
    ) -> np.ndarray:
        """One image, ``uint8 [H, W, 3]``; infrared images have three equal channels.

        Args:
            appearance: who is shown.
            view: pose and per-image jitter.
            scene: the camera (background, light, sensor, modality).
            noise_rng: the generator of this image's sensor noise.
        """
        leg, arm, lift = appearance.gait.angles(view.phase)
        size = view.scale * appearance.stature * self.height
        frame = BodyFrame(
            height=self.height,
            width=self.width,
            top=self.height * (1.0 - view.foot_margin) - size * (1.0 + float(lift)),
            centre=self.width * (0.5 + view.shift_x),
            size=size,
            mirror=view.mirror,
        )
        label = paint_body(appearance, frame, float(leg), float(arm))
        u, v = frame.u(), frame.v()
        pattern = np.zeros(label.shape, dtype=np.float32)
        plain = (PatternKind.PLAIN, PatternKind.PLAIN)
        textured = (appearance.upper_pattern.kind, appearance.lower_pattern.kind) != plain
        if appearance.upper_pattern.kind is not PatternKind.PLAIN:
            pattern = np.where(label == Region.UPPER, pattern_value(appearance.upper_pattern, u, v), pattern)
        if appearance.lower_pattern.kind is not PatternKind.PLAIN:
            pattern = np.where(label == Region.LOWER, pattern_value(appearance.lower_pattern, u, v), pattern)
        # Light falls off towards the body's sides, a cheap stand-in for a rounded body.
        shade = np.clip(1.0 - 6.0 * v * v, 0.7, 1.0).astype(np.float32)
        person = label != Region.BACKGROUND
        start = round(view.crop * scene_margin(self.width))
        background = scene.layout[:, start : start + self.width]
        # Per-region tables gathered with np.take (several times faster than fancy indexing).
        base, second = appearance.colours, appearance.secondary
        if scene.modality is Modality.VISIBLE:
            colour = np.take(base, label, axis=0)
            if textured:
                colour += np.take(second - base, label, axis=0) * pattern[..., None]
            light = (view.brightness * scene.cast * np.asarray(view.tint, dtype=np.float32)).astype(np.float32)
            image = np.where(person[..., None], colour * shade[..., None], background) * light
        else:
            # Luminance is linear, so it is mixed per region before the gather: no RGB image needed.
            luminance = np.take(base @ LUMA, label) + np.take((second - base) @ LUMA, label) * pattern
            depth = np.zeros(NUM_REGIONS, dtype=np.float32)
            depth[Region.UPPER] = appearance.upper_pattern.thermal_depth
            depth[Region.LOWER] = appearance.lower_pattern.thermal_depth
            thermal = np.take(appearance.thermal, label) * (1.0 - np.take(depth, label) * pattern)
            body = infrared_intensity(luminance, thermal, self.modality_gap) * shade
            ground = scene.ir_contrast * (background @ LUMA) + scene.ir_offset
            image = (np.where(person, body, ground) * np.float32(view.ir_gain))[..., None]
        image += sensor_noise(noise_rng, image.shape, scene.noise)
        pixels = np.clip(image * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
        if pixels.shape[2] == 1:
            pixels = np.repeat(pixels, 3, axis=2)
        return pixels
