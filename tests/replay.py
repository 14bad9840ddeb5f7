"""A local HTTP server that replays saved registry responses, for source adapter tests.

Register replies per path; each request takes the next reply in the sequence (the
last one repeats), and every request is recorded so tests can check what was sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pathlib
from collections.abc import Callable

import aiohttp.web
import multidict

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def fixture(relative: str) -> bytes:
    """The bytes of a saved response under tests/fixtures/."""
    return (FIXTURES / relative).read_bytes()


def fixture_json(relative: str) -> dict:
    """A saved response, decoded, for tests that alter it before serving."""
    return json.loads(fixture(relative))


@dataclasses.dataclass
class Reply:
    """One canned response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (for timeout tests)."""
    etag: str | None = None
    """Sent as ETag; a request whose If-None-Match equals it gets a bodiless 304."""
    chunked: bool = False
    """Send the body chunked, with no Content-Length."""

    @classmethod
    def json(cls, value: object, **kwargs: object) -> Reply:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return cls(body=json.dumps(value).encode(), headers=headers, **kwargs)

    @classmethod
    def fixture(cls, relative: str, **kwargs: object) -> Reply:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return cls(body=fixture(relative), headers=headers, **kwargs)


@dataclasses.dataclass(frozen=True)
class Received:
    """A request as the server saw it."""

    method: str
    raw_path: str
    headers: multidict.CIMultiDictProxy[str]
    body: bytes


class ReplayServer:
    """An aiohttp server on 127.0.0.1, port chosen by the OS."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._routes: dict[tuple[str, str], list[Reply]] = {}
        self._handlers: dict[tuple[str, str], Callable[[bytes], Reply]] = {}
        app = aiohttp.web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Cancel handlers whose client left (timeout tests), and do not wait for them at shutdown.
        self._runner = aiohttp.web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        self.url = ""

    def add(self, path: str, *replies: Reply, method: str = "GET") -> None:
        """Answer `method path` (raw, percent-encoded path) with `replies` in turn, repeating the last."""
        self._routes[(method, path)] = list(replies)

    def add_handler(self, path: str, handler: Callable[[bytes], Reply], *, method: str = "POST") -> None:
        """Answer `method path` with whatever `handler(request body)` returns (APIs that route on the body)."""
        self._handlers[(method, path)] = handler

    def received(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.raw_path.split("?")[0] == path]

    async def __aenter__(self) -> ReplayServer:
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        path = request.raw_path.split("?")[0]
        body = await request.read()
        self.requests.append(Received(request.method, request.raw_path, request.headers, body))
        handler = self._handlers.get((request.method, path))
        replies = self._routes.get((request.method, path))
        if handler is not None:
            reply = handler(body)
        elif not replies:
            return aiohttp.web.json_response({"error": "Not found"}, status=404)
        else:
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        headers = dict(reply.headers)
        if reply.etag:
            headers["ETag"] = reply.etag
            if request.headers.get("If-None-Match") == reply.etag:
                return aiohttp.web.Response(status=304, headers={"ETag": reply.etag})
        if not reply.chunked:
            return aiohttp.web.Response(status=reply.status, body=reply.body, headers=headers)
        response = aiohttp.web.StreamResponse(status=reply.status, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(reply.body), 64 * 1024):
            await response.write(reply.body[start : start + 64 * 1024])
        await response.write_eof()
        return response
