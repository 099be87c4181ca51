"""The signature pad: finger, pen or mouse on a Flet canvas, kept as vector strokes.

Drawing follows DESIGN.md §6: one canvas shape per stroke; each pointer move
appends one point to the current stroke's shape in place and updates only
that shape, so the browser receives the new point and never the earlier
strokes again (about 40 bytes a point). The strokes themselves live in
``app.forms.signature.SignatureStrokes``; this module only draws them and
forwards the pointer.

Under the pad: Undo, Redo, Clear, and the "Signed by … on …" line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft
import flet.canvas as cv

from app.forms.signature import SignatureStrokes

PAD_HEIGHT = 180
# The pad's width before the canvas reports its size (phone width minus margins).
DEFAULT_WIDTH = 340
STROKE_WIDTH = 2.5
# Milliseconds between two pointer updates sent by the browser (DESIGN.md §6).
DRAG_INTERVAL = 24

OnSigned = Callable[[dict[str, Any] | None], Awaitable[None]]


def _offset(point: tuple[float, float]) -> ft.Offset:
    # Whole pixels travel as small integers (a float is 9 bytes on the wire).
    x, y = point
    return ft.Offset(int(x) if x.is_integer() else x, int(y) if y.is_integer() else y)


def _paint(color: str) -> ft.Paint:
    return ft.Paint(
        color=color,
        stroke_width=STROKE_WIDTH,
        stroke_cap=ft.StrokeCap.ROUND,
        stroke_join=ft.StrokeJoin.ROUND,
        style=ft.PaintingStyle.STROKE,
    )


class SignaturePad:
    """A canvas to sign on; ``on_change(answer)`` gets the new answer after each stroke."""

    def __init__(
        self,
        answer: Any,
        on_change: OnSigned,
        *,
        labels: dict[str, str],
        signed_line: str,
        color: str = "#1A237E",
    ) -> None:
        """``labels``: ``undo``, ``redo``, ``clear``, ``hint`` and ``pad`` (for screen readers)."""
        self._on_change = on_change
        self._color = color
        self.strokes = SignatureStrokes.from_answer(answer, DEFAULT_WIDTH, PAD_HEIGHT)
        self._current: cv.Points | None = None
        self.canvas = cv.Canvas(
            shapes=self._shapes(), expand=True, on_resize=self._resized, resize_interval=200
        )
        self.detector = ft.GestureDetector(
            content=self.canvas,
            drag_interval=DRAG_INTERVAL,
            on_pan_start=self._start,
            on_pan_update=self._move,
            on_pan_end=self._end,
            # A stroke that starts downwards would otherwise be taken by the
            # form's scrolling (its vertical drag wins before a pan is sure):
            # the pad claims vertical drags too, and draws them the same way.
            # (Flutter's debug build asserts on pan + vertical drag together;
            # the release build the web client ships runs both.)
            on_vertical_drag_start=self._start,
            on_vertical_drag_update=self._move,
            on_vertical_drag_end=self._end,
            mouse_cursor=ft.MouseCursor.PRECISE,
            expand=True,
        )
        self.hint = ft.Text(labels["hint"], size=13, color=ft.Colors.ON_SURFACE_VARIANT)
        self.undo_button = ft.TextButton(labels["undo"], icon=ft.Icons.UNDO, on_click=self._undo)
        self.redo_button = ft.TextButton(labels["redo"], icon=ft.Icons.REDO, on_click=self._redo)
        self.clear_button = ft.TextButton(
            labels["clear"], icon=ft.Icons.DELETE_OUTLINE, on_click=self._clear
        )
        self.signed_line = ft.Text(signed_line, size=13, italic=True)
        self.box = ft.Container(
            # Its own node (not merged into the field's): a drawing area with a name.
            content=ft.Semantics(
                content=self.detector, label=labels["pad"], container=True, image=True, expand=True
            ),
            height=PAD_HEIGHT,
            border=ft.Border.all(1, ft.Colors.OUTLINE),
            border_radius=8,
            bgcolor=ft.Colors.SURFACE_CONTAINER_LOWEST,
            clip_behavior=ft.ClipBehavior.HARD_EDGE,
        )
        self.control = ft.Column(
            [
                self.box,
                self.hint,
                ft.Row(
                    [self.undo_button, self.redo_button, self.clear_button],
                    wrap=True,
                    spacing=4,
                ),
                self.signed_line,
            ],
            spacing=4,
        )
        self._refresh_buttons()

    # -- drawing -------------------------------------------------------------

    def _shape(self, stroke: list[tuple[float, float]]) -> cv.Shape:
        if len(stroke) == 1:
            x, y = stroke[0]
            return cv.Circle(x, y, STROKE_WIDTH, paint=ft.Paint(color=self._color))
        return cv.Points(
            points=[_offset(point) for point in stroke],
            point_mode=cv.PointMode.POLYGON,
            paint=_paint(self._color),
        )

    def _shapes(self) -> list[cv.Shape]:
        return [self._shape(stroke) for stroke in self.strokes.strokes]

    def _redraw(self) -> None:
        self._current = None
        self.canvas.shapes = self._shapes()

    def _refresh_buttons(self) -> None:
        self.undo_button.disabled = self.strokes.empty
        self.redo_button.disabled = not self.strokes.undone
        self.clear_button.disabled = self.strokes.empty

    async def _resized(self, e: cv.CanvasResizeEvent) -> None:
        width, height = float(e.width), float(e.height)
        if width <= 0 or height <= 0:
            return
        if (width, height) == (self.strokes.width, self.strokes.height):
            return
        # Scale what is drawn into the new box (a phone turned sideways).
        answer = self.strokes.answer()
        self.strokes = SignatureStrokes.from_answer(answer, width, height)
        if answer is not None:
            self._redraw()
            self.canvas.update()

    async def _start(self, e: ft.DragStartEvent[ft.GestureDetector]) -> None:
        x, y = e.local_position.x, e.local_position.y
        if not self.strokes.begin(x, y):
            return
        self._current = cv.Points(
            points=[_offset(self.strokes.strokes[-1][0])],
            point_mode=cv.PointMode.POLYGON,
            paint=_paint(self._color),
        )
        # Appending to the list sends only the new shape, not the others.
        self.canvas.shapes.append(self._current)
        self.canvas.update()

    async def _move(self, e: ft.DragUpdateEvent[ft.GestureDetector]) -> None:
        point = self.strokes.extend(e.local_position.x, e.local_position.y)
        if point is None or self._current is None:
            return
        # In place: Flet sends only the appended point (DESIGN.md §6).
        assert self._current.points is not None
        self._current.points.append(_offset(point))
        self._current.update()

    async def _end(self, _e: ft.DragEndEvent[ft.GestureDetector]) -> None:
        if not self.strokes.drawing:
            return
        self.strokes.end()
        stroke = self.strokes.strokes[-1]
        if len(stroke) == 1 and self._current is not None:
            # A tap: a dot (a one-point line draws nothing).
            self.canvas.shapes[-1] = self._shape(stroke)
            self.canvas.update()
        self._current = None
        await self._changed()

    async def _changed(self) -> None:
        buttons = (self.undo_button, self.redo_button, self.clear_button)
        before = [button.disabled for button in buttons]
        self._refresh_buttons()
        # Only the buttons that changed: after the first stroke, drawing
        # sends nothing but its points.
        for button, was in zip(buttons, before, strict=True):
            if button.disabled != was:
                button.update()
        await self._on_change(self.strokes.answer())

    # -- buttons ------------------------------------------------------------------

    async def _undo(self, _e: ft.Event[ft.Control]) -> None:
        if self.strokes.undo():
            self.canvas.shapes.pop()
            self.canvas.update()
            await self._changed()

    async def _redo(self, _e: ft.Event[ft.Control]) -> None:
        if self.strokes.redo():
            self.canvas.shapes.append(self._shape(self.strokes.strokes[-1]))
            self.canvas.update()
            await self._changed()

    async def _clear(self, _e: ft.Event[ft.Control]) -> None:
        self.strokes.clear()
        self._redraw()
        self.canvas.update()
        await self._changed()
