"""Scheduling assistant: travel-aware slot proposals (pure Python + numpy, no web imports)."""

from backend.scheduling.engine import (
    ScheduleIndex,
    check_insertion,
    insert_route,
    propose,
    rank_insertions,
)
from backend.scheduling.model import (
    BookingPolicy,
    Insertion,
    Location,
    Proposal,
    Technician,
    Visit,
    VisitRequest,
)
from backend.scheduling.travel import HaversineTravel, TravelProvider, VectorisedTravel

__all__ = [
    "BookingPolicy",
    "HaversineTravel",
    "Insertion",
    "Location",
    "Proposal",
    "ScheduleIndex",
    "Technician",
    "TravelProvider",
    "VectorisedTravel",
    "Visit",
    "VisitRequest",
    "check_insertion",
    "insert_route",
    "propose",
    "rank_insertions",
]
