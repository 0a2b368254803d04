"""Paint a synthetic person's body into a label map: which region each pixel shows.

Parts are simple shapes in the body frame (``u`` down from the top of the head, ``v``
across from the midline, both in body heights): trapezoids for torso, coat, neck and long
hair; ellipses for head and hair; capsules (thick segments) for arms and legs; boxes for
bags. Each part is evaluated only on the pixel window its bounding box covers, and parts
are painted back to front, so a later part hides an earlier one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reid.data.synthetic.person import BagKind, PersonAppearance, Region

# A part's pixels: given the window's body coordinates u [h, 1] and v [1, w], which pixels
# it covers and the region label(s) they get.
Shape = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray | bool, np.ndarray | int]]


@dataclass(frozen=True)
class BodyFrame:
    """Where the body sits in the image.

    Attributes:
        height, width: image size in pixels.
        top: image row (pixels, may be fractional) of the top of the head.
        centre: image column of the body's midline.
        size: body height in pixels.
        mirror: the body faces left (``v`` grows leftwards), so side-specific parts swap.
    """

    height: int
    width: int
    top: float
    centre: float
    size: float
    mirror: bool

    def u(self) -> np.ndarray:
        """Body coordinate of each pixel row's centre, ``float32 [H, 1]``."""
        rows = np.arange(self.height, dtype=np.float32) + np.float32(0.5)
        return ((rows - self.top) / self.size).astype(np.float32)[:, None]

    def v(self) -> np.ndarray:
        """Body coordinate of each pixel column's centre, ``float32 [1, W]``."""
        cols = np.arange(self.width, dtype=np.float32) + np.float32(0.5)
        sign = -1.0 if self.mirror else 1.0
        return (sign * (cols - self.centre) / self.size).astype(np.float32)[None, :]


class _Canvas:
    """A label map being painted, with the body frame's coordinates."""

    def __init__(self, frame: BodyFrame) -> None:
        self.frame = frame
        self.u, self.v = frame.u(), frame.v()
        self.label = np.zeros((frame.height, frame.width), dtype=np.uint8)

    def paint(self, u0: float, u1: float, v0: float, v1: float, shape: Shape) -> None:
        """Apply ``shape`` on the pixels whose centres may lie in the body-frame box."""
        f = self.frame
        sign = -1.0 if f.mirror else 1.0
        r0 = max(0, math.floor(f.top + u0 * f.size - 0.5))
        r1 = min(f.height, math.ceil(f.top + u1 * f.size - 0.5) + 1)
        xa, xb = f.centre + sign * v0 * f.size, f.centre + sign * v1 * f.size
        c0 = max(0, math.floor(min(xa, xb) - 0.5))
        c1 = min(f.width, math.ceil(max(xa, xb) - 0.5) + 1)
        if r1 <= r0 or c1 <= c0:
            return
        mask, code = shape(self.u[r0:r1], self.v[:, c0:c1])
        window = self.label[r0:r1, c0:c1]
        window[...] = np.where(mask, code, window)

    def box(self, u0: float, u1: float, v0: float, v1: float, region: Region) -> None:
        self.paint(u0, u1, v0, v1, lambda u, v: (True, region))

    def trapezoid(self, u0: float, u1: float, half0: float, half1: float, region: Region) -> None:
        """Rows ``u0..u1`` of a symmetric trapezoid whose half-width goes from ``half0`` to ``half1``."""
        slope = (half1 - half0) / (u1 - u0)
        reach = max(half0, half1)
        self.paint(u0, u1, -reach, reach, lambda u, v: (np.abs(v) <= half0 + slope * (u - u0), region))

    def ellipse(self, cu: float, ru: float, rv: float, region: Region, until: float | None = None) -> None:
        """An ellipse on the midline centred at ``cu``; only rows above ``until`` when given."""
        bottom = cu + ru if until is None else min(cu + ru, until)

        def shape(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, Region]:
            inside = (v / rv) ** 2 + ((u - cu) / ru) ** 2 <= 1.0
            return (inside & (u <= bottom)), region

        self.paint(cu - ru, bottom, -rv, rv, shape)

    def limb(
        self,
        v0: float,
        u0: float,
        angle: float,
        length: float,
        radius: float,
        covered: float,
        garment: Region,
        end: Region,
    ) -> tuple[float, float]:
        """A capsule from joint ``(v0, u0)`` at ``angle`` from vertical: ``garment`` over the
        first ``covered`` fraction, skin after, and a 30 % wider ``end`` piece (shoe or hand)
        over the last 0.04 body heights. Returns the body-frame end point ``(v, u)``."""
        dv, du = math.sin(angle), math.cos(angle)
        v1, u1 = v0 + length * dv, u0 + length * du
        end_start, garment_end = length - 0.04, covered * length

        def shape(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pv, pu = v - v0, u - u0
            t = np.clip(pv * dv + pu * du, 0.0, length)
            dist2 = (pv - t * dv) ** 2 + (pu - t * du) ** 2
            at_end = t >= end_start
            mask = dist2 <= np.where(at_end, (1.3 * radius) ** 2, radius**2)
            code = np.where(at_end, end, np.where(t <= garment_end, garment, Region.SKIN)).astype(np.uint8)
            return mask, code

        pad = 1.3 * radius
        self.paint(min(u0, u1) - pad, max(u0, u1) + pad, min(v0, v1) - pad, max(v0, v1) + pad, shape)
        return v1, u1


def paint_body(a: PersonAppearance, frame: BodyFrame, leg: float, arm: float) -> np.ndarray:
    """The label map ``uint8 [H, W]`` of ``a`` with legs at ``+-leg`` and arms at ``-+arm`` radians.

    Back to front: long hair, backpack, legs, torso, coat, arms, neck, head, hair, handbag.
    """
    canvas = _Canvas(frame)
    head_u = a.head_height
    shoulder_u = 2.0 * a.head_height + 0.035
    if a.hair_length > 0.5:
        # Long hair falls down the back, behind the torso, narrowing a little.
        reach = 0.25 * a.hair_length
        canvas.trapezoid(head_u, head_u + reach, a.head_width, a.head_width * (1.0 - 0.8 * reach), Region.HAIR)
    if a.bag is BagKind.BACKPACK:
        canvas.box(
            shoulder_u, shoulder_u + 1.6 * a.bag_size, -a.shoulder - 0.5 * a.bag_size, -a.shoulder + 0.03, Region.BAG
        )
    for side, angle in ((-1.0, leg), (1.0, -leg)):
        canvas.limb(
            side * a.leg_spread, a.hip - 0.02, angle, 0.975 - a.hip, a.leg_width, a.trouser, Region.LOWER, Region.SHOES
        )
    canvas.trapezoid(shoulder_u, a.hip, a.shoulder, a.waist, Region.UPPER)
    if a.coat > 0.0:
        canvas.trapezoid(a.hip, a.hip + a.coat, a.waist, a.waist + 0.35 * a.coat, Region.UPPER)
    hand = (0.0, 0.0)
    for side, swing in ((-1.0, arm), (1.0, -arm)):
        # Arms hang slightly away from the body (0.1 rad) and swing against the legs.
        hand = canvas.limb(
            side * (a.shoulder - 0.8 * a.arm_width),
            shoulder_u + 0.015,
            side * 0.1 + swing,
            a.arm_length,
            a.arm_width,
            a.sleeve,
            Region.UPPER,
            Region.SKIN,
        )
    neck = 0.45 * a.head_width
    canvas.trapezoid(head_u, shoulder_u + 0.01, neck, neck, Region.SKIN)
    canvas.ellipse(head_u, a.head_height, a.head_width, Region.SKIN)
    # Hair: a slightly larger ellipse cut at a hairline from a thin cap (cropped) to the ears (long).
    canvas.ellipse(
        head_u, 1.08 * a.head_height, 1.08 * a.head_width, Region.HAIR, until=head_u * (0.55 + 0.55 * a.hair_length)
    )
    if a.bag is BagKind.HANDBAG:
        s = a.bag_size
        canvas.box(hand[1] - 0.01, hand[1] + s, hand[0] - 0.5 * s, hand[0] + 0.5 * s, Region.BAG)
    return canvas.label
