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


def _luminance(color: str) -> float:
    """WCAG relative luminance of ``#RRGGBB``."""
    channels = []
    for i in (1, 3, 5):
        c = int(color[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two ``#RRGGBB`` colours (1 to 21)."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# WCAG AA for normal-size text (button labels are 14 px, not "large text").
MIN_TEXT_CONTRAST = 4.5


def on_color(background: str) -> str:
    """Text colour for ``background``: white when it reads well (AA), else the better of two.

    The brand's #D84315 gives white 4.4:1 and black 4.7:1, so black: AA.
    """
    white, black = "#FFFFFF", "#000000"
    on_white = contrast_ratio(background, white)
    if on_white >= MIN_TEXT_CONTRAST or on_white >= contrast_ratio(background, black):
        return white
    return black


def color_scheme(primary: str | None) -> ft.ColorScheme:
    """The brand colour as the primary colour, exactly.

    The seed alone gives a tonal palette in which the primary is a derived
    tone (the brand's #D84315 orange came out brown), so the primary and the
    text drawn on it are set explicitly; the other roles still come from the seed.
    """
    brand = seed_color(primary)
    return ft.ColorScheme(primary=brand, on_primary=on_color(brand))


def apply_theme(page: ft.Page, primary: str | None) -> None:
    """Follow the system's light/dark mode, the BU colour as seed and as primary."""
    seed = seed_color(primary)
    page.theme_mode = ft.ThemeMode.SYSTEM
    page.theme = ft.Theme(color_scheme_seed=seed, color_scheme=color_scheme(seed))
    page.dark_theme = ft.Theme(color_scheme_seed=seed, color_scheme=color_scheme(seed))


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
