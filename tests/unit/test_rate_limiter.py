"""The per-token rate limiter (token buckets) as a pure function of request times."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dutywatch.web.guard import RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_never_more_than_the_burst_plus_the_rate_over_any_stretch(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = Clock()
    limiter = RateLimiter(rate, burst, clock=clock)
    allowed: list[float] = []
    for gap in gaps:
        clock.now += gap
        wait = limiter.take("token")
        if wait is None:
            allowed.append(clock.now)
        else:
            assert wait > 0
            assert int(retry_after(wait)) >= 1
    # From the start: at most the burst plus what the rate refilled since.
    assert len(allowed) <= burst + rate * clock.now + 1e-6
    # A first burst of requests at one instant gets exactly `burst` through.
    fresh = RateLimiter(rate, burst, clock=Clock())
    assert sum(fresh.take("t") is None for _ in range(burst + 5)) == burst


@given(keys=st.lists(st.integers(0, 100), min_size=1, max_size=300))
def test_keys_are_independent_and_memory_is_bounded(keys: list[int]) -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock(), max_keys=10)
    for key in keys:
        limiter.take(key)
    assert len(limiter._buckets) <= 10
    fresh_key = 1_000
    assert limiter.take(fresh_key) is None, "a new key has its whole burst"
