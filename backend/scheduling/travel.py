"""Travel-time models.

The engine only needs travel *minutes* between points. Any object with
``minutes`` and ``matrix`` (:class:`TravelProvider`) can be plugged in, e.g. a
road-network provider backed by an OSRM ``table`` call. Providers that can work
on pre-processed coordinate arrays also implement :class:`VectorisedTravel`;
the engine then computes all travel times of a query with a few numpy
operations instead of one call per pair.

Contract for every provider: minutes are finite and ``>= 0``. They need not be
symmetric nor satisfy the triangle inequality; the engine stays exact. A
provider may declare a class attribute ``symmetric = True`` so that the engine
computes each query's travel times in one direction only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from backend.scheduling.model import Location

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius


@runtime_checkable
class TravelProvider(Protocol):
    """Travel minutes between locations."""

    def minutes(self, a: Location, b: Location) -> float:
        """Minutes to drive from ``a`` to ``b``."""
        ...

    def matrix(self, origins: Sequence[Location], destinations: Sequence[Location]) -> np.ndarray:
        """Array of shape ``(len(origins), len(destinations))`` of minutes."""
        ...


@runtime_checkable
class VectorisedTravel(TravelProvider, Protocol):
    """A provider that can precompute per-point data and evaluate pairs in bulk."""

    def prepare(self, locations: Sequence[Location]) -> np.ndarray:
        """Per-point data (one row per location) for :meth:`pairwise`."""
        ...

    def pairwise(self, origins: np.ndarray, destinations: np.ndarray) -> np.ndarray:
        """Element-wise minutes between prepared rows; numpy broadcasting applies."""
        ...


@dataclass(frozen=True)
class HaversineTravel:
    """Great-circle distance × circuity at a constant speed.

    ``minutes = 2 R asin(chord / 2) × circuity / speed_kmh × 60`` where
    ``chord`` is the straight-line distance between the two points on the unit
    sphere (this is exactly the haversine great-circle distance, written in a
    form that vectorises without trigonometry per pair). ``circuity`` (1.3 by
    default) converts crow-flight distance to road distance and ``speed_kmh``
    (30 km/h by default) is a door-to-door urban average, parking included.
    """

    symmetric: ClassVar[bool] = True

    circuity: float = 1.3
    speed_kmh: float = 30.0

    def __post_init__(self) -> None:
        if self.circuity <= 0 or self.speed_kmh <= 0:
            raise ValueError("circuity and speed_kmh must be positive")

    @property
    def _minutes_per_radian(self) -> float:
        return 2.0 * EARTH_RADIUS_KM * self.circuity / self.speed_kmh * 60.0

    @staticmethod
    def _unit_vector(location: Location) -> tuple[float, float, float]:
        lat = math.radians(location.lat)
        lon = math.radians(location.lon)
        return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))

    def minutes(self, a: Location, b: Location) -> float:
        """Minutes from ``a`` to ``b`` (symmetric)."""
        ax, ay, az = self._unit_vector(a)
        bx, by, bz = self._unit_vector(b)
        chord = math.sqrt((ax - bx) ** 2 + (ay - by) ** 2 + (az - bz) ** 2)
        # min() guards asin against a chord rounding a hair above 2 (antipodes).
        return math.asin(min(1.0, chord / 2.0)) * self._minutes_per_radian

    def prepare(self, locations: Sequence[Location]) -> np.ndarray:
        """Unit vectors on the sphere, shape ``(n, 3)``."""
        lat = np.radians(np.array([loc.lat for loc in locations], dtype=np.float64))
        lon = np.radians(np.array([loc.lon for loc in locations], dtype=np.float64))
        cos_lat = np.cos(lat)
        return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)

    def pairwise(self, origins: np.ndarray, destinations: np.ndarray) -> np.ndarray:
        """Minutes between rows of two prepared arrays (broadcasting)."""
        diff = origins - destinations
        chord = np.sqrt(np.einsum("...k,...k->...", diff, diff))
        return np.arcsin(np.minimum(1.0, chord * 0.5)) * self._minutes_per_radian

    def matrix(self, origins: Sequence[Location], destinations: Sequence[Location]) -> np.ndarray:
        """Full ``(len(origins), len(destinations))`` matrix of minutes."""
        a = self.prepare(origins)
        b = self.prepare(destinations)
        return self.pairwise(a[:, None, :], b[None, :, :])
