"""Brand assets (logos): shipped in ``assets/``, or uploaded by staff (kept in
``{PORTAL_DATA_DIR}/logos``, see backend/api/routes/staff_config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

ASSETS_DIR = Path(__file__).resolve().parents[3] / "assets"
_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}

router = APIRouter(tags=["assets"])


@router.get("/assets/{name}", response_class=FileResponse)
def asset(
    name: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}\.(png|svg|jpg)$")],
    request: Request,
) -> FileResponse:
    """A logo or icon by file name (no directories: the pattern forbids them)."""
    path = ASSETS_DIR / name
    if not path.is_file():
        path = request.app.state.settings.data_dir / "logos" / name
    if not path.is_file():
        raise HTTPException(404, f"No asset named {name}.")
    return FileResponse(
        path,
        media_type=_TYPES[path.suffix],
        headers={"Cache-Control": "public, max-age=86400"},
    )
