"""Editing a form: in place while nobody answered it, as a new version once someone did.

Answers keep the version they were given on (``FormSubmission.form_id`` and
its copy of the fields); the portal actions of the unit's activity types move
to the new version, so clients fill the new one from their next pull.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import ActivityType, FormDefinition, FormSubmission


class FormReplaced(Exception):
    """The form is an old version; edit ``current_id`` instead."""

    def __init__(self, current_id: int) -> None:
        super().__init__(f"This is an old version of the form; edit form {current_id} instead.")
        self.current_id = current_id


def save(
    db: Session, form: FormDefinition, name: str, fields: list[dict[str, Any]]
) -> FormDefinition:
    """Apply the edit and return the form now current (``form`` or its new version)."""
    if form.replaced_by_id is not None:
        raise FormReplaced(form.replaced_by_id)
    answered = db.scalar(
        select(FormSubmission.id).where(FormSubmission.form_id == form.id).limit(1)
    )
    if answered is None:
        form.name = name
        form.fields = fields
        db.flush()
        return form
    new = FormDefinition(
        business_unit_id=form.business_unit_id, name=name, fields=fields, version=form.version + 1
    )
    db.add(new)
    db.flush()
    form.replaced_by_id = new.id
    for activity_type in db.scalars(
        select(ActivityType).where(ActivityType.business_unit_id == form.business_unit_id)
    ):
        actions = activity_type.portal_actions or []
        if any(a.get("form_id") == form.id for a in actions):
            activity_type.portal_actions = [
                {**a, "form_id": new.id} if a.get("form_id") == form.id else a for a in actions
            ]
    db.flush()
    return new
