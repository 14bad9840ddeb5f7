"""Benchmark: answers while PostgreSQL is stopped (SIGSTOP) with requests waiting on it.

Runs the scenario of tests/stall.py: a PostgreSQL of its own (never a shared one), the
service in this process, one cached answer; then PostgreSQL is stopped and `--waiting`
requests that need it are sent, and cached requests go while those wait. Prints latency
figures for the cached answers (target: at most 50 ms) and how and when the database-bound
requests were answered (target: a 503 within the request deadline).

    python bench/bench_stall.py [--waiting 200] [--cached 200]

Uses CENTRALCLOUD_TEST_NATS_URL if set, else an embedded nats-server on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

import stall  # noqa: E402
from centralcloud.runtime import embedded_nats  # noqa: E402


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(waiting: int, cached: int) -> None:
    url = os.environ.get("CENTRALCLOUD_TEST_NATS_URL")
    server = None
    if not url:
        server = embedded_nats.EmbeddedNats(host="127.0.0.1", port=0, data_dir=None)
        url = await server.start()
    try:
        outcome = await stall.run(url, waiting=waiting, cached=cached)
    finally:
        if server is not None:
            await server.stop()
    hits = [took * 1000 for status, took in outcome.cached if status is None]
    print(f"PostgreSQL stopped, {waiting} database-bound requests waiting, deadline {outcome.deadline:g} s")
    print(
        f"cached answers: {len(hits)}/{len(outcome.cached)} answered; "
        f"p50 {statistics.median(hits):.2f} ms, p99 {quantile(hits, 0.99):.2f} ms, max {max(hits):.2f} ms "
        f"({sum(1 for h in hits if h <= 50)} within 50 ms)"
    )
    codes = collections.Counter(f"{status} {code}" for status, code, _ in outcome.bound)
    times = [took * 1000 for _, _, took in outcome.bound]
    print(f"database-bound: {dict(codes)}")
    print(
        f"  answered after p50 {statistics.median(times):.0f} ms, p99 {quantile(times, 0.99):.0f} ms, "
        f"max {max(times):.0f} ms (deadline {outcome.deadline * 1000:.0f} ms)"
    )
    print(f"after SIGCONT: {'answered' if outcome.after is None else 'error ' + str(outcome.after)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=200)
    parser.add_argument("--cached", type=int, default=200)
    options = parser.parse_args()
    asyncio.run(main(options.waiting, options.cached))
