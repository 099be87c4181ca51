"""What a Flet control tree shows, for view tests without a browser."""

from __future__ import annotations

from typing import Any

import flet as ft


def shown_texts(control: Any) -> list[str]:
    """Every visible, non-empty ``ft.Text`` value under ``control``, depth first."""
    found: list[str] = []

    def walk(c: Any) -> None:
        if c is None or getattr(c, "visible", True) is False:
            return
        if isinstance(c, ft.Text) and c.value:
            found.append(str(c.value))
        for name in ("content", "controls"):
            child = getattr(c, name, None)
            if isinstance(child, list):
                for item in child:
                    walk(item)
            elif isinstance(child, ft.Control):
                walk(child)

    walk(control)
    return found
