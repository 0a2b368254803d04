"""What a synthetic identity looks like and how it walks: drawn once per identity from its own generator.

The appearance holds everything that makes two synthetic people tell apart, split by what
survives in infrared: body shape, clothing cut, hair, bag and texture pattern survive in
both modalities; clothing colours exist only in visible light; the per-region "thermal"
intensities exist only in infrared and are drawn independently of the colours, so colour
cannot predict them (see :mod:`reid.data.synthetic.renderer` for how the two mix).
"""

from __future__ import annotations

import colorsys
import enum
import math
from dataclasses import dataclass

import numpy as np


class Region(enum.IntEnum):
    """Label of a pixel of the body map; indexes the per-region colour and thermal tables."""

    BACKGROUND = 0
    SKIN = 1
    HAIR = 2
    UPPER = 3
    LOWER = 4
    SHOES = 5
    BAG = 6


NUM_REGIONS = len(Region)


class PatternKind(enum.IntEnum):
    """Texture of a garment: drawn in the body frame, so it moves with the person."""

    PLAIN = 0
    STRIPES = 1
    CHECKS = 2
    DOTS = 3


class BagKind(enum.IntEnum):
    """A carried bag, part of the identity (SYSU-MM01 people keep their bag between cameras)."""

    NONE = 0
    BACKPACK = 1
    HANDBAG = 2


@dataclass(frozen=True)
class Pattern:
    """A garment texture.

    Attributes:
        kind: plain, stripes, checks or dots.
        frequency: cycles per body height.
        angle: orientation of the stripes / grid in radians (0 = vertical stripes).
        thermal_depth: how much the pattern darkens the infrared intensity (0..1): the
            weave or print changes emissivity, so texture survives without colour.
    """

    kind: PatternKind
    frequency: float
    angle: float
    thermal_depth: float


@dataclass(frozen=True)
class Gait:
    """How an identity walks: the motion cue of the video data set.

    Attributes:
        frequency: stride cycles per video frame (HITSZ-VCM keeps 1 frame in 5 at 25 fps,
            so a ~1 Hz human gait is ~0.2 cycles per frame).
        leg_amplitude: peak leg swing from vertical, radians.
        arm_amplitude: peak arm swing from vertical, radians.
        arm_lag: phase of the arm swing relative to the opposite leg, radians.
        bob: vertical body bounce per half stride, fraction of body height.
    """

    frequency: float
    leg_amplitude: float
    arm_amplitude: float
    arm_lag: float
    bob: float

    def angles(self, phase: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Leg angle, arm angle and vertical bounce at gait ``phase`` (radians).

        The arm on one side swings against the leg on that side (counter-rotation of
        walking); the body is highest at mid-stance, twice per cycle.
        """
        phase = np.asarray(phase, dtype=np.float64)
        leg = self.leg_amplitude * np.sin(phase)
        arm = -self.arm_amplitude * np.sin(phase + self.arm_lag)
        bounce = self.bob * np.abs(np.cos(phase))
        return leg, arm, bounce


@dataclass(frozen=True, eq=False)
class PersonAppearance:
    """A synthetic identity's looks. Lengths are fractions of the body height.

    Attributes:
        stature: body height relative to the tallest person (0.88..1).
        head_width, head_height: half-axes of the head ellipse.
        shoulder, waist: half-widths of the torso at the shoulders and at the hips.
        hip: where the torso ends and the legs start (from the top of the head).
        leg_width, leg_spread: half-thickness of a leg; offset of each hip joint from the midline.
        arm_width, arm_length: half-thickness and length of an arm.
        sleeve: fraction of the arm covered by the upper garment (1 = long sleeves).
        trouser: fraction of the leg covered by the lower garment (about 0.4 = shorts).
        coat: how far the upper garment reaches below the hips (0 = none).
        hair_length: 0 = cropped, 1 = long hair down the back.
        bag, bag_size: carried bag and its size.
        colours: ``[NUM_REGIONS, 3]`` base RGB colour of each region, in [0, 1].
        secondary: ``[NUM_REGIONS, 3]`` the second colour a garment pattern mixes in.
        thermal: ``[NUM_REGIONS]`` infrared intensity of each region, in [0, 1]; skin is warm.
        upper_pattern, lower_pattern: garment textures.
        gait: how the identity walks.
    """

    stature: float
    head_width: float
    head_height: float
    shoulder: float
    waist: float
    hip: float
    leg_width: float
    leg_spread: float
    arm_width: float
    arm_length: float
    sleeve: float
    trouser: float
    coat: float
    hair_length: float
    bag: BagKind
    bag_size: float
    colours: np.ndarray
    secondary: np.ndarray
    thermal: np.ndarray
    upper_pattern: Pattern
    lower_pattern: Pattern
    gait: Gait


def sample_appearance(rng: np.random.Generator) -> PersonAppearance:
    """Draw one identity's appearance; the ranges are wide so identities are told apart by many cues."""
    colours = np.zeros((NUM_REGIONS, 3), dtype=np.float32)
    secondary = np.zeros((NUM_REGIONS, 3), dtype=np.float32)
    colours[Region.SKIN] = _skin_colour(rng)
    colours[Region.HAIR] = _hair_colour(rng)
    for region in (Region.UPPER, Region.LOWER, Region.SHOES, Region.BAG):
        colours[region] = _garment_colour(rng)
        secondary[region] = _contrasting_colour(rng, colours[region])
    secondary[Region.SKIN] = colours[Region.SKIN]
    secondary[Region.HAIR] = colours[Region.HAIR]
    thermal = np.zeros(NUM_REGIONS, dtype=np.float32)
    # Skin is the warmest surface; clothing and bags are cooler by an amount set by
    # material and thickness, which has nothing to do with their dye.
    thermal[Region.SKIN] = rng.uniform(0.78, 0.95)
    thermal[Region.HAIR] = rng.uniform(0.2, 0.45)
    thermal[Region.UPPER] = rng.uniform(0.25, 0.8)
    thermal[Region.LOWER] = rng.uniform(0.2, 0.75)
    thermal[Region.SHOES] = rng.uniform(0.1, 0.35)
    thermal[Region.BAG] = rng.uniform(0.1, 0.5)
    long_sleeves = rng.random() < 0.5
    long_trousers = rng.random() < 0.6
    has_coat = rng.random() < 0.3
    bag = BagKind(int(rng.choice(3, p=[0.45, 0.3, 0.25])))
    return PersonAppearance(
        stature=float(rng.uniform(0.88, 1.0)),
        head_width=float(rng.uniform(0.04, 0.055)),
        head_height=float(rng.uniform(0.055, 0.07)),
        shoulder=float(rng.uniform(0.085, 0.135)),
        waist=float(rng.uniform(0.065, 0.115)),
        hip=float(rng.uniform(0.47, 0.55)),
        leg_width=float(rng.uniform(0.027, 0.045)),
        leg_spread=float(rng.uniform(0.022, 0.045)),
        arm_width=float(rng.uniform(0.019, 0.032)),
        arm_length=float(rng.uniform(0.3, 0.36)),
        sleeve=1.0 if long_sleeves else float(rng.uniform(0.25, 0.55)),
        trouser=0.93 if long_trousers else float(rng.uniform(0.3, 0.55)),
        coat=float(rng.uniform(0.1, 0.28)) if has_coat else 0.0,
        hair_length=float(rng.uniform(0.0, 1.0)),
        bag=bag,
        bag_size=float(rng.uniform(0.08, 0.14)),
        colours=colours,
        secondary=secondary,
        thermal=thermal,
        upper_pattern=_sample_pattern(rng),
        lower_pattern=_sample_pattern(rng, plain=0.55),
        gait=_sample_gait(rng),
    )


def _sample_pattern(rng: np.random.Generator, plain: float = 0.3) -> Pattern:
    textured = (1.0 - plain) / 3.0
    kind = PatternKind(int(rng.choice(4, p=[plain, textured, textured, textured])))
    return Pattern(
        kind=kind,
        frequency=float(rng.uniform(6.0, 18.0)),
        # Mostly horizontal or vertical, like real prints, with some diagonals.
        angle=float(rng.choice([0.0, math.pi / 2, math.pi / 4, -math.pi / 4], p=[0.3, 0.4, 0.15, 0.15])),
        thermal_depth=float(rng.uniform(0.25, 0.5)),
    )


def _sample_gait(rng: np.random.Generator) -> Gait:
    return Gait(
        frequency=float(rng.uniform(0.09, 0.24)),
        leg_amplitude=float(rng.uniform(0.12, 0.42)),
        arm_amplitude=float(rng.uniform(0.05, 0.55)),
        arm_lag=float(rng.uniform(-0.6, 0.6)),
        bob=float(rng.uniform(0.0, 0.02)),
    )


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _skin_colour(rng: np.random.Generator) -> np.ndarray:
    return _hsv(rng.uniform(0.03, 0.09), rng.uniform(0.25, 0.6), rng.uniform(0.35, 0.95))


def _hair_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.7:
        return _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.25))
    return _hsv(rng.uniform(0.08, 0.13), rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.8))


def _garment_colour(rng: np.random.Generator) -> np.ndarray:
    """A clothing colour: a third of real clothes are neutral (black, white, grey), the rest any hue."""
    if rng.random() < 0.3:
        return _hsv(0.0, 0.0, rng.uniform(0.05, 0.95))
    return _hsv(rng.random(), rng.uniform(0.3, 0.95), rng.uniform(0.2, 0.95))


def _contrasting_colour(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """The pattern's second colour: another hue and a clearly different brightness, so the
    pattern shows in luminance (and hence in infrared at small modality gaps) too."""
    h, s, v = colorsys.rgb_to_hsv(*(float(c) for c in base))
    v2 = v - 0.45 if v > 0.5 else v + 0.45
    return _hsv(h + rng.uniform(-0.35, 0.35), float(np.clip(s + rng.uniform(-0.3, 0.3), 0.0, 1.0)), v2)
