"""Light and dark themes seeded with the business unit's colour."""

from __future__ import annotations

import re

import flet as ft

# Used until the branding arrives (first start, before any sync).
DEFAULT_SEED = "#1565C0"
# Below this width the app uses the phone layout (bottom navigation bar).
COMPACT_WIDTH = 600

STATUS_COLORS: dict[str, str] = {
    "to_schedule": ft.Colors.AMBER_700,
    "scheduled": ft.Colors.BLUE_700,
    "in_progress": ft.Colors.DEEP_ORANGE_700,
    "done": ft.Colors.GREEN_700,
    "cancelled": ft.Colors.GREY_600,
}


def seed_color(primary: str | None) -> str:
    """The BU's ``#RRGGBB`` colour, or the default when missing or malformed."""
    if primary and re.fullmatch(r"#[0-9A-Fa-f]{6}", primary):
        return primary
    return DEFAULT_SEED


def apply_theme(page: ft.Page, primary: str | None) -> None:
    """Follow the system's light/dark mode with the BU colour as seed."""
    seed = seed_color(primary)
    page.theme_mode = ft.ThemeMode.SYSTEM
    page.theme = ft.Theme(color_scheme_seed=seed)
    page.dark_theme = ft.Theme(color_scheme_seed=seed)


def status_chip(label: str, status: str) -> ft.Container:
    """A small coloured pill with the status label."""
    return ft.Container(
        content=ft.Text(label, size=12, color=ft.Colors.WHITE, weight=ft.FontWeight.W_600),
        bgcolor=STATUS_COLORS.get(status, ft.Colors.GREY_600),
        border_radius=ft.BorderRadius.all(12),
        padding=ft.Padding.symmetric(vertical=2, horizontal=10),
    )


def section_title(text: str) -> ft.Text:
    """A heading inside a screen."""
    return ft.Text(text, size=18, weight=ft.FontWeight.W_600)
