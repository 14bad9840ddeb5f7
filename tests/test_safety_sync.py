"""The sync under floods of made-up names, and a resumed run of asked-for packages."""

from __future__ import annotations

import asyncio

from centralcloud.core import names
from replay import Reply
from test_sync import World, packument, run_once, world  # noqa: F401 - the world fixture


async def test_names_not_found_are_remembered_and_skipped(world: World) -> None:
    pool = world.database.pool
    await pool.execute("INSERT INTO package_requests (ecosystem, name) VALUES ('npm', 'app-a'), ('npm', 'made-up')")
    first = await run_once(world.job(depth=0))
    assert first["counts"]["npm"]["failed"] == 1
    assert await pool.fetchval("SELECT not_found_at IS NOT NULL FROM package_requests WHERE name = 'made-up'")
    asked = len(world.registry.received("/made-up"))
    again = await run_once(world.job(depth=0))
    assert "failed" not in again["counts"].get("npm", {}) or again["counts"]["npm"]["failed"] == 0, again
    assert len(world.registry.received("/made-up")) == asked  # not asked again within the week
    # Once the week is over, it is asked about again.
    await pool.execute("UPDATE package_requests SET not_found_at = now() - interval '8 days' WHERE name = 'made-up'")
    await run_once(world.job(depth=0))
    assert len(world.registry.received("/made-up")) == asked + 1


async def test_requested_names_never_stored_are_bounded_per_run(world: World) -> None:
    pool = world.database.pool
    await pool.execute(
        "INSERT INTO package_requests (ecosystem, name, request_count) "
        "SELECT 'npm', 'junk-' || i, 1 FROM generate_series(1, 50) i"
    )
    await pool.execute("INSERT INTO package_requests (ecosystem, name, request_count) VALUES ('npm', 'app-a', 9)")
    status = await run_once(world.job(depth=0, max_unknown=10))
    assert status["total"] == 10  # app-a (most requested) and 9 of the junk names
    assert len(world.registry.received("/app-a")) == 1
    asked = sum(len(world.registry.received(f"/junk-{i}")) for i in range(1, 51))
    assert asked == 9


async def test_a_resumed_run_of_asked_for_packages_skips_what_it_stored(world: World) -> None:
    world.registry.add("/lib-b", Reply.json(packument("lib-b"), etag='"b1"', delay=5))
    asked = [names.PackageRef("npm", n) for n in ("app-a", "lib-b", "reported-x")]
    first = world.job()
    run_id, _ = await first.start(trigger="request", packages=asked)
    for _ in range(100):
        if world.registry.received("/lib-b") and await world.database.pool.fetchval(
            "SELECT count(*) FROM packages WHERE name IN ('app-a', 'reported-x')"
        ) == 2:
            break
        await asyncio.sleep(0.05)
    await first.close()
    world.registry.add("/lib-b", Reply.json(packument("lib-b"), etag='"b1"'))
    second = world.job()
    resumed, started = await second.start(trigger="request")
    assert started and resumed == run_id
    await second.wait()
    [done] = await second.status(run_id)
    assert done["state"] == "succeeded", done
    assert len(world.registry.received("/app-a")) == 1 and len(world.registry.received("/reported-x")) == 1
    assert len(world.registry.received("/lib-b")) == 2
