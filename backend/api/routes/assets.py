"""Static brand assets (logos) shipped in ``assets/``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

ASSETS_DIR = Path(__file__).resolve().parents[3] / "assets"
_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}

router = APIRouter(tags=["assets"])


@router.get("/assets/{name}", response_class=FileResponse)
def asset(
    name: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}\.(png|svg|jpg)$")],
) -> FileResponse:
    """A logo or icon by file name (no directories: the pattern forbids them)."""
    path = ASSETS_DIR / name
    if not path.is_file():
        raise HTTPException(404, f"No asset named {name}.")
    return FileResponse(
        path,
        media_type=_TYPES[path.suffix],
        headers={"Cache-Control": "public, max-age=86400"},
    )
