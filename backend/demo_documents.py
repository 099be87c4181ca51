"""The demo client's documents: a closure (with the technician's signature) and its
report on each of their finished visits, and the file of each of their quotes.

Only for the example client the demo prints (the one people sign in as): every
report is a rendered PDF, and rendering one for each of the demo's thousands
of finished visits would make ``portal`` slow to start for nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from backend.document_models import ActivityClosure
from backend.models import Activity
from backend.services import documents, projection

# A short flourish, in the signature pad's format (fractions of the pad).
TECHNICIAN_STROKES = {
    "strokes": [
        [[0.08, 0.62], [0.18, 0.35], [0.27, 0.66], [0.36, 0.38], [0.45, 0.64]],
        [[0.5, 0.55], [0.62, 0.42], [0.74, 0.58], [0.9, 0.45]],
    ]
}


def seed_documents(db: Session, client_id: int, now: datetime) -> int:
    """Close the client's finished visits with their report and render the files of
    their quotes; returns how many activities got documents."""
    activities = db.scalars(
        projection.activity_query().where(Activity.client_id == client_id).order_by(Activity.id)
    ).all()
    count = 0
    for activity in activities:
        if activity.status == "done" and activity.closure_report:
            report = activity.closure_report
            technician = activity.technician
            name = f"{technician.first_name} {technician.last_name}".strip() if technician else ""
            db.add(
                ActivityClosure(
                    activity_id=activity.id,
                    data={
                        "summary": report.get("summary") or "",
                        "work_done": list(report.get("work_done") or []),
                        "answers": [],
                        "photos": [],
                        "signatures": [
                            {"role": "technician", "strokes": TECHNICIAN_STROKES, "name": name}
                        ],
                    },
                    closed_at=activity.scheduled_end or now,
                    created_at=now,
                )
            )
            db.flush()
        elif activity.quote is None:
            continue
        if documents.refresh(db, activity, now):
            count += 1
    return count
