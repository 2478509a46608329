"""Distances, nearest spaces and nearest estates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.content import load_content
from storage.domain.geo import distance_km, nearest_estates, spaces_by_distance

SAMPLE = Path(__file__).resolve().parents[2] / "content"
DUOMO = (45.4642, 9.1900)
CENTRALE = (45.4862, 9.2046)

latitudes = st.floats(min_value=-89.0, max_value=89.0, allow_nan=False)
longitudes = st.floats(min_value=-180.0, max_value=180.0, allow_nan=False)
milan_points = st.tuples(st.floats(min_value=45.35, max_value=45.60), st.floats(min_value=9.0, max_value=9.35))


def test_known_distance() -> None:
    assert distance_km(*DUOMO, *CENTRALE) == pytest.approx(2.71, abs=0.05)
    assert distance_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(111.2, abs=0.1)


@given(latitudes, longitudes, latitudes, longitudes)
def test_distance_is_symmetric_and_bounded(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    there = distance_km(lat1, lon1, lat2, lon2)
    assert there == pytest.approx(distance_km(lat2, lon2, lat1, lon1), abs=1e-9)
    assert 0.0 <= there <= 20_016.0  # half of the Earth's circumference
    assert distance_km(lat1, lon1, lat1, lon1) == 0.0


@given(milan_points, milan_points, milan_points)
def test_triangle_inequality(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> None:
    assert distance_km(*a, *c) <= distance_km(*a, *b) + distance_km(*b, *c) + 1e-9


def test_spaces_by_distance() -> None:
    content = load_content(SAMPLE)
    omero = content.spaces["omero"]
    ranked = spaces_by_distance(content, omero.lat, omero.lon)
    assert len(ranked) == len(content.spaces)
    assert ranked[0] == (omero, 0.0)
    distances = [distance for _, distance in ranked]
    assert distances == sorted(distances)
    assert all(distance < 25 for distance in distances)  # everything is in Milan


def test_nearest_estates() -> None:
    content = load_content(SAMPLE)
    near_zoia = nearest_estates(content, 45.4705, 9.0945)
    assert len(near_zoia) == 3
    assert near_zoia[0][0].space_id == "zoia"
    assert [distance for _, distance in near_zoia] == sorted(distance for _, distance in near_zoia)
    assert len(nearest_estates(content, *DUOMO, limit=1)) == 1
