"""The broadcast bench's RSS verdict (tests/bench/broadcast.py): what "flat" means, checked on made-up samples."""

from tests.bench.broadcast import FLAT_MB_PER_10K, WARM_UP_MESSAGES, _rss_story, _slope

MB = 1024 * 1024


def samples(per_10k_mb: float, messages: int = 20_000, start_mb: float = 150.0, warm_up_mb: float = 0.0) -> list[tuple[int, int]]:
    """One sample every 100 messages: a rise of warm_up_mb over the warm-up, then per_10k_mb per 10,000 messages."""
    out = []
    for count in range(100, messages + 1, 100):
        rise = warm_up_mb * min(count, WARM_UP_MESSAGES) / WARM_UP_MESSAGES
        rise += per_10k_mb * max(0, count - WARM_UP_MESSAGES) / 10_000
        out.append((count, int((start_mb + rise) * MB)))
    return out


def test_slope_is_bytes_per_message() -> None:
    assert _slope([(0, 0), (10, 50), (20, 100)]) == 5.0
    assert _slope([(5, 7), (5, 9)]) == 0.0  # no spread in messages: no slope


def test_growth_during_the_warm_up_only_is_flat() -> None:
    story = _rss_story(samples(0.0, warm_up_mb=8.0))
    assert "+0.00 MB per 10k messages: flat" in story
    assert "150.2 MB at its first message → 158.0 MB after 5,000 (warm-up)" in story and "peak 158.0 MB" in story


def test_steady_growth_after_the_warm_up_is_not_flat() -> None:
    story = _rss_story(samples(3.0))
    assert "+3.00 MB per 10k messages: NOT flat" in story
    assert f"threshold {FLAT_MB_PER_10K} MB per 10k" in story


def test_a_short_run_gives_no_verdict() -> None:
    story = _rss_story(samples(3.0, messages=7_000))
    assert "no slope: fewer than 5,000 messages after the warm-up" in story and "flat" not in story
