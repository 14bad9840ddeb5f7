"""With PostgreSQL stopped (SIGSTOP) and 200 requests waiting on it, cached answers still come
and database-bound ones get a 503 within their deadline (figures: bench/bench_stall.py)."""

from __future__ import annotations

import stall


async def test_a_stalled_database_costs_only_the_requests_that_need_it(nats_url: str) -> None:
    outcome = await stall.run(nats_url, waiting=200, cached=50)
    assert outcome.cached and all(status is None for status, _ in outcome.cached), outcome.cached
    # Generous: the point is that none waited behind the stalled requests (seconds, not milliseconds).
    assert max(took for _, took in outcome.cached) < 0.5
    assert len(outcome.bound) == 200
    codes = {code for _, code, _ in outcome.bound}
    assert codes <= {"database_unavailable", "overloaded"} and "database_unavailable" in codes, codes
    assert all(status == "503" for status, _, _ in outcome.bound)
    assert max(took for _, _, took in outcome.bound) < outcome.deadline + 0.5
    assert outcome.after is None  # PostgreSQL back: the service answers from it again, no restart
