"""Staff: logo upload, activity types list, title template preview, forms (list, create, get).

Behind ``require_staff`` (backend/api/staff_access.py). Editing a form is
``PUT /staff/forms/{id}`` in staff.py (``backend.services.form_versions``).
"""

from __future__ import annotations

import hashlib
import io
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from backend.api.deps import MAX_ID, DbSession, IdPath, Now, SettingsDep
from backend.api.staff_access import StaffPrincipal, needs, require_staff
from backend.domain import FormSpec
from backend.models import Activity, ActivityType, BusinessUnit, FormDefinition
from backend.services import audit, feed, projection
from backend.templates import TemplateError, validate_template

router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(require_staff)])

LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_MAX_SIDE = 512
LOGO_PATH = re.compile(r"^/staff/business-units/[0-9]+/logo$")
_IMAGE_FORMATS = {"PNG", "JPEG", "WEBP"}


def logos_dir(settings: Any) -> Any:
    """Where uploaded logos live (served under /assets/ beside the shipped ones)."""
    return settings.data_dir / "logos"


def _image_bytes(request_body: bytes, content_type: str) -> bytes:
    """The file of a multipart upload, or the raw body."""
    match = re.search(r"boundary=\"?([^\";]+)\"?", content_type or "")
    if not content_type.startswith("multipart/form-data") or match is None:
        return request_body
    boundary = b"--" + match.group(1).encode()
    for part in request_body.split(boundary)[1:]:
        head, sep, data = part.partition(b"\r\n\r\n")
        if sep and b"filename=" in head:
            return data[:-2] if data.endswith(b"\r\n") else data
    return b""


@router.put(
    "/business-units/{bu_id}/logo",
    openapi_extra=needs("admin"),
    responses={413: {"description": "Over 2 MB"}, 422: {"description": "Not a PNG, JPEG or WebP"}},
)
async def put_logo(
    bu_id: IdPath,
    request: Request,
    principal: StaffPrincipal,
    db: DbSession,
    settings: SettingsDep,
    now: Now,
) -> dict[str, Any]:
    """Upload the unit's logo (PNG, JPEG or WebP, checked by content, at most 2 MB);
    kept as a PNG of at most 512 px."""
    raw = await request.body()
    if len(raw) > LOGO_MAX_BYTES + 64 * 1024:
        raise HTTPException(413, "The logo is larger than 2 MB.")
    data = _image_bytes(raw, request.headers.get("content-type", ""))
    if len(data) > LOGO_MAX_BYTES:
        raise HTTPException(413, "The logo is larger than 2 MB.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in _IMAGE_FORMATS:
                raise UnidentifiedImageError(image.format)
            if image.width * image.height > 40_000_000:
                raise UnidentifiedImageError("too many pixels")
            image.thumbnail((LOGO_MAX_SIDE, LOGO_MAX_SIDE))
            out = io.BytesIO()
            image.convert("RGBA").save(out, format="PNG", optimize=True)
    except (UnidentifiedImageError, OSError, ValueError):
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "file"],
                    "msg": "not a PNG, JPEG or WebP image",
                    "type": "value_error",
                }
            ],
        ) from None
    png = out.getvalue()
    name = f"bu{bu_id}-{hashlib.sha256(png).hexdigest()[:16]}.png"
    folder = logos_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(png)

    def save() -> str:
        bu = db.get(BusinessUnit, bu_id)
        if bu is None:
            raise HTTPException(404, f"No business unit with id {bu_id}.")
        before = bu.logo
        bu.logo = name
        db.flush()
        feed.refresh_business_unit(db, bu.id)
        audit.record(
            db,
            principal.actor,
            "business_unit.logo_changed",
            now,
            business_unit_id=bu.id,
            target_kind="business_unit",
            target_id=bu.id,
            target_label=bu.name,
            before={"logo": before},
            after={"logo": name},
        )
        db.commit()
        return projection.branding_doc(bu)["logo_url"]

    from starlette.concurrency import run_in_threadpool

    return {"logo_url": await run_in_threadpool(save)}


# --- activity types ------------------------------------------------------------------


def type_out(t: ActivityType) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "portal_shown": t.portal_shown,
        "title_template": t.title_template,
        "portal_actions": t.portal_actions,
    }


@router.get("/business-units/{bu_id}/activity-types")
def list_activity_types(bu_id: IdPath, db: DbSession) -> list[dict[str, Any]]:
    rows = db.scalars(
        select(ActivityType)
        .where(ActivityType.business_unit_id == bu_id)
        .order_by(ActivityType.name)
    )
    return [type_out(t) for t in rows]


class TitlePreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: Annotated[str, Field(max_length=300)]
    activity_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


@router.post("/activity-types/{type_id}/title-preview", openapi_extra=needs("viewer"))
def title_preview(type_id: IdPath, body: TitlePreviewIn, db: DbSession) -> dict[str, Any]:
    """Check a title template and render it on a real activity of the type in fr and en.

    Nothing is saved. ``activity_id`` defaults to the type's newest activity.
    """
    errors: list[dict[str, str]] = []
    try:
        validate_template(body.template)
    except TemplateError as exc:
        errors.append({"field": "template", "message": str(exc)})
    query = projection.activity_query().where(Activity.type_id == type_id)
    if body.activity_id is not None:
        query = query.where(Activity.id == body.activity_id)
    activity = db.scalars(query.order_by(Activity.id.desc()).limit(1)).first()
    if body.activity_id is not None and activity is None:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "activity_id"],
                    "msg": "no activity of this type with that id",
                    "type": "value_error",
                }
            ],
        )
    rendered = {"fr": "", "en": ""}
    if activity is not None and not errors:
        client, bu = activity.client, db.get(BusinessUnit, activity.business_unit_id)
        saved = (activity.type.title_template, client.preferred_language)
        with db.no_autoflush:
            try:
                activity.type.title_template = body.template
                for lang in rendered:
                    client.preferred_language = lang
                    rendered[lang] = projection.render_title(activity, client, bu)
            finally:
                activity.type.title_template, client.preferred_language = saved
    db.rollback()  # nothing of this request is ever written
    return {
        "errors": errors,
        "fr": rendered["fr"],
        "en": rendered["en"],
        "activity_id": activity.id if activity is not None else None,
    }


# --- forms ------------------------------------------------------------------------------


def form_out(form: FormDefinition) -> dict[str, Any]:
    return {
        **projection.form_doc(form),
        "business_unit_id": form.business_unit_id,
        "version": form.version,
        "replaced_by_id": form.replaced_by_id,
    }


def validated_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fields as stored, or a 422 naming the field at fault."""
    try:
        spec = FormSpec.model_validate({"fields": fields})
    except ValidationError as exc:
        raise HTTPException(
            422,
            [
                {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_context=False)
            ],
        ) from exc
    return [f.model_dump() for f in spec.fields]


@router.get("/business-units/{bu_id}/forms")
def list_forms(bu_id: IdPath, db: DbSession) -> list[dict[str, Any]]:
    """The unit's current forms (older versions kept for their answers are left out)."""
    rows = db.scalars(
        select(FormDefinition)
        .where(FormDefinition.business_unit_id == bu_id, FormDefinition.replaced_by_id.is_(None))
        .order_by(FormDefinition.name, FormDefinition.id)
    )
    return [form_out(f) for f in rows]


class FormIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200)]
    fields: list[dict[str, Any]]


@router.post("/business-units/{bu_id}/forms", status_code=201)
def create_form(
    bu_id: IdPath, body: FormIn, principal: StaffPrincipal, db: DbSession, now: Now
) -> dict[str, Any]:
    form = FormDefinition(
        business_unit_id=bu_id, name=body.name, fields=validated_fields(body.fields)
    )
    db.add(form)
    db.flush()
    audit.record(
        db,
        principal.actor,
        "form.created",
        now,
        business_unit_id=bu_id,
        target_kind="form",
        target_id=form.id,
        target_label=form.name,
        before=None,
        after={"name": form.name, "fields": len(form.fields)},
    )
    db.commit()
    return form_out(form)


@router.get("/forms/{form_id}")
def get_form(form_id: IdPath, db: DbSession) -> dict[str, Any]:
    form = db.get(FormDefinition, form_id)
    if form is None:
        raise HTTPException(404, f"No form with id {form_id}.")
    return form_out(form)
