"""A signature as vector strokes: drawing, undo/redo, and the answer sent.

No Flet here: the pad (``app.forms.signature_pad``) feeds pointer positions in
and draws what this model holds, so the rules are tested without a screen.

Rules kept here:

- one stroke per finger/pen/mouse drag; points closer than ``MIN_STEP``
  pixels to the previous one are dropped (a pointer at rest sends the same
  position again and again, which would only make the payload bigger);
- points are clamped to the pad's box (a drag may leave the box) and rounded
  to whole pixels (finer is invisible on a signature): the server checks the
  same box;
- a finished stroke is simplified (Ramer–Douglas–Peucker, ``TOLERANCE``
  pixels): points on a nearly straight run add bytes, not shape;
- the answer is ``{"width", "height", "strokes": [[[x, y], ...], ...]}`` in
  the pad's pixels, the shape ``backend.forms`` validates and the server
  renders to PNG. A typical signature of 20 strokes stays well under 10 kB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from backend.forms import SIGNATURE_MAX_POINTS, SIGNATURE_MAX_STROKES, signature_box

# Below this distance (pixels) from the last kept point, a new point adds nothing.
MIN_STEP = 2.0
# A finished stroke keeps only points further than this (pixels) from the
# line through their neighbours.
TOLERANCE = 0.8

Point = tuple[float, float]


def _distance_to_line(point: Point, start: Point, end: Point) -> float:
    (px, py), (ax, ay), (bx, by) = point, start, end
    dx, dy = bx - ax, by - ay
    length = math.hypot(dx, dy)
    if length == 0:
        return math.hypot(px - ax, py - ay)
    return abs(dy * px - dx * py + bx * ay - by * ax) / length


def simplify(stroke: list[Point], tolerance: float = TOLERANCE) -> list[Point]:
    """The stroke with the points that change its shape by less than ``tolerance`` left out."""
    if len(stroke) < 3:
        return list(stroke)
    keep = [False] * len(stroke)
    keep[0] = keep[-1] = True
    pending = [(0, len(stroke) - 1)]
    # Iterative, not recursive: a long stroke must not hit the recursion limit.
    while pending:
        first, last = pending.pop()
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            distance = _distance_to_line(stroke[i], stroke[first], stroke[last])
            if distance > worst:
                worst, index = distance, i
        if index != -1 and worst > tolerance:
            keep[index] = True
            pending.append((first, index))
            pending.append((index, last))
    return [point for point, kept in zip(stroke, keep, strict=True) if kept]


@dataclass
class SignatureStrokes:
    """The strokes of one signature in a ``width`` × ``height`` pixel box."""

    width: float
    height: float
    strokes: list[list[Point]] = field(default_factory=list)
    # Strokes undone, most recent last: ``redo`` brings them back.
    undone: list[list[Point]] = field(default_factory=list)
    drawing: bool = False

    @property
    def empty(self) -> bool:
        """True when nothing is drawn."""
        return not self.strokes

    @property
    def point_count(self) -> int:
        """How many points all strokes hold."""
        return sum(len(stroke) for stroke in self.strokes)

    def _clamp(self, x: float, y: float) -> Point:
        if not (math.isfinite(x) and math.isfinite(y)):
            x, y = 0.0, 0.0
        # Whole pixels, but never past the box's edge (a fractional width).
        return (
            min(float(round(min(max(x, 0.0), self.width))), self.width),
            min(float(round(min(max(y, 0.0), self.height))), self.height),
        )

    def _full(self) -> bool:
        return (
            len(self.strokes) >= SIGNATURE_MAX_STROKES or self.point_count >= SIGNATURE_MAX_POINTS
        )

    def begin(self, x: float, y: float) -> bool:
        """Start a stroke at (x, y); False when the signature cannot take more."""
        if self._full():
            self.drawing = False
            return False
        self.strokes.append([self._clamp(x, y)])
        self.undone.clear()  # a new stroke ends what redo could bring back
        self.drawing = True
        return True

    def extend(self, x: float, y: float) -> Point | None:
        """Add (x, y) to the current stroke; the point kept, or None when dropped."""
        if not self.drawing or not self.strokes:
            return None
        if self.point_count >= SIGNATURE_MAX_POINTS:
            return None
        point = self._clamp(x, y)
        last = self.strokes[-1][-1]
        if math.hypot(point[0] - last[0], point[1] - last[1]) < MIN_STEP:
            return None
        self.strokes[-1].append(point)
        return point

    def end(self) -> None:
        """Finish the current stroke (simplified; a tap stays a dot)."""
        if self.drawing and self.strokes:
            self.strokes[-1] = simplify(self.strokes[-1])
        self.drawing = False

    def undo(self) -> bool:
        """Take the last stroke back; False when there is none."""
        if not self.strokes:
            return False
        self.undone.append(self.strokes.pop())
        self.drawing = False
        return True

    def redo(self) -> bool:
        """Bring the last undone stroke back; False when there is none."""
        if not self.undone:
            return False
        self.strokes.append(self.undone.pop())
        return True

    def clear(self) -> None:
        """Erase everything (clear cannot be undone: the client starts again)."""
        self.strokes.clear()
        self.undone.clear()
        self.drawing = False

    def answer(self) -> dict[str, Any] | None:
        """The form answer for these strokes; None when nothing is drawn."""
        if not self.strokes:
            return None
        return {
            "width": self.width,
            "height": self.height,
            "strokes": [[[_compact(x), _compact(y)] for x, y in stroke] for stroke in self.strokes],
        }

    @classmethod
    def from_answer(cls, answer: Any, width: float, height: float) -> SignatureStrokes:
        """Strokes of a saved answer (a draft), scaled into a ``width`` × ``height`` pad.

        Anything unreadable gives an empty pad rather than an error: the
        client signs again.
        """
        pad = cls(width=width, height=height)
        box = signature_box(answer)
        if box is None or not isinstance(answer.get("strokes"), list):
            return pad
        sx, sy = width / box[0], height / box[1]
        for stroke in answer["strokes"]:
            points: list[Point] = []
            if not isinstance(stroke, list):
                continue
            for point in stroke:
                if (
                    isinstance(point, list)
                    and len(point) == 2
                    and all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
                ):
                    points.append(pad._clamp(point[0] * sx, point[1] * sy))
            if points:
                pad.strokes.append(points)
        return pad


def _compact(value: float) -> float | int:
    # 12 rather than 12.0 in the JSON: two bytes a coordinate.
    return int(value) if float(value).is_integer() else value
