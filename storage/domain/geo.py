"""Distances between points in Milan: nearest spaces and estates to a shared location."""

from __future__ import annotations

from math import asin, cos, radians, sin, sqrt

from storage.content import Content, Estate, Space

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in kilometres."""
    phi1, phi2 = radians(lat1), radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = radians(lon2 - lon1) / 2
    a = sin(half_dphi) ** 2 + cos(phi1) * cos(phi2) * sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_KM * asin(sqrt(min(1.0, a)))  # min(): rounding can push a just above 1


def spaces_by_distance(content: Content, lat: float, lon: float) -> list[tuple[Space, float]]:
    """Every space with its distance in km from (lat, lon), nearest first."""
    ranked = [(space, distance_km(lat, lon, space.lat, space.lon)) for space in content.spaces.values()]
    return sorted(ranked, key=lambda pair: (pair[1], pair[0].id))


def nearest_estates(content: Content, lat: float, lon: float, limit: int = 3) -> list[tuple[Estate, float]]:
    """The `limit` estates nearest to (lat, lon) with their distance in km, nearest first."""
    ranked = [(estate, distance_km(lat, lon, estate.lat, estate.lon)) for estate in content.estates.values()]
    return sorted(ranked, key=lambda pair: (pair[1], pair[0].id))[:limit]
