"""What anyone may read before signing in: the company's public branding."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from backend.api.deps import DbSession, SettingsDep
from backend.api.schemas import Branding
from backend.models import BusinessUnit
from backend.services import projection

router = APIRouter(tags=["public"])

NO_BRAND = (
    "No single company is configured for this portal's sign-in screen: set "
    "PORTAL_PUBLIC_BUSINESS_UNIT_ID."
)


@router.get(
    "/public/branding",
    response_model=Branding,
    responses={404: {"description": "No single company to show"}},
    summary="The branding shown on the sign-in screen",
)
def public_branding(db: DbSession, settings: SettingsDep) -> Branding:
    """Logo, name and contact details a company publishes anyway.

    The configured business unit, or the only one with the portal on. Nothing
    here depends on who asks, so it reveals nothing about clients.
    """
    query = select(BusinessUnit).where(BusinessUnit.portal_enabled.is_(True))
    if settings.public_business_unit_id is not None:
        query = query.where(BusinessUnit.id == settings.public_business_unit_id)
    candidates = db.scalars(query.limit(2)).all()
    if len(candidates) != 1:
        raise HTTPException(404, NO_BRAND)
    return Branding.model_validate(projection.branding_doc(candidates[0]))
