"""HTTP for every source: user agent, timeouts, retries, conditional requests, body caps, JSON.

No aiohttp or asyncio exception gets past this module: callers only ever see
`centralcloud.core.errors`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import msgspec
import yarl

import centralcloud
from centralcloud.core import clock, errors
from centralcloud.sources import guard

log = logging.getLogger(__name__)

_CHUNK_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpPolicy:
    """How a source talks HTTP."""

    timeout: float = 20.0
    """Seconds one attempt may take in all: connecting, sending and reading the whole body."""
    max_attempts: int = 3
    """Attempts per request, the first included, before giving up with SourceUnavailable."""
    backoff_base: float = 0.5
    """Seconds before the first retry; each further retry waits twice as long (with jitter)."""
    backoff_max: float = 10.0
    """Longest backoff between two attempts."""
    max_retry_wait: float = 30.0
    """Longest wait granted to a Retry-After header; longer requests are cut to this."""
    max_body_bytes: int = 64 * 1024 * 1024
    """Largest response body accepted; npm packuments of busy packages run to tens of MB."""
    user_agent: str = f"centralcloud/{centralcloud.__version__} (+package knowledge service)"
    """User-Agent header sent with every request."""
    guard: guard.GuardPolicy = guard.GuardPolicy()
    """This source's connection bound and circuit breaker."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Response:
    """A source's answer, its JSON body already decoded."""

    status: int
    """HTTP status: 2xx, or 304 when the validators sent still match."""
    json: Any
    """The decoded body; None on 304."""
    etag: str | None
    """ETag to send as If-None-Match next time."""
    last_modified: str | None
    """Last-Modified to send as If-Modified-Since next time."""
    headers: Mapping[str, str]
    """Response headers (case-insensitive)."""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


Decoder = Callable[[bytes | bytearray], Any]
"""Decodes a 2xx body, raising msgspec.DecodeError when it cannot (as a typed `msgspec.json.Decoder.decode` does)."""


class _Retryable(Exception):
    """An attempt failed in a way another attempt may not."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class HttpSource:
    """A data source reached over HTTP with JSON bodies; owns the session's use, not the session."""

    name: str = "http"
    """Source name carried by the errors this source raises."""
    ecosystem: str | None = None
    """Ecosystem served, for sources tied to one."""

    def __init__(self, *, session: aiohttp.ClientSession, base_url: str, policy: HttpPolicy = HttpPolicy()) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.guard = guard.Guard(policy=policy.guard)
        """This source's own connection bound and circuit breaker."""

    def url(self, path_or_url: str) -> str:
        """An absolute URL for `path_or_url`, which must already be percent-encoded."""
        if "://" in path_or_url:
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    async def get_json(
        self,
        path_or_url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
        decoder: Decoder | None = None,
    ) -> Response:
        """GET JSON, conditionally when validators are given (304 gives a Response with json None).

        `decoder` reads the raw body instead of the generic JSON decoding into dicts: an adapter
        decodes into typed structs holding only the fields it maps, which is much cheaper for big documents."""
        conditional = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        response = await self._request(
            "GET", path_or_url, headers={**conditional, **(headers or {})}, decoder=decoder
        )
        if response.not_modified:
            # A 304 may leave the validators out; the ones we sent are still current.
            return dataclasses.replace(
                response, etag=response.etag or etag, last_modified=response.last_modified or last_modified
            )
        return response

    async def post_json(self, path_or_url: str, body: object, *, headers: Mapping[str, str] | None = None) -> Response:
        """POST `body` as JSON. Retried like GET, so only for idempotent queries (OSV's query API)."""
        return await self._request(
            "POST",
            path_or_url,
            headers={"Content-Type": "application/json", **(headers or {})},
            data=msgspec.json.encode(body),
        )

    async def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: Mapping[str, str],
        data: bytes | None = None,
        decoder: Decoder | None = None,
    ) -> Response:
        url = self.url(path_or_url)
        try:
            # encoded=True keeps paths byte for byte, so npm's @scope%2fname stays one segment.
            target = yarl.URL(url, encoded=True)
            usable = target.scheme in ("http", "https") and bool(target.host) and target.port is not None
        except ValueError:  # yarl parses lazily: a bad port only shows here
            usable = False
        if not usable:
            raise errors.SourceUnavailable(f"{self.name} is configured with an unusable URL", source=self.name)
        sent = {"User-Agent": self.policy.user_agent, "Accept": "application/json", **headers}
        attempts = max(1, self.policy.max_attempts)
        breaker = self.guard.breaker
        for attempt in range(1, attempts + 1):
            try:
                breaker.check()
            except guard.Resting as rest:
                raise errors.SourceUnavailable(
                    f"{self.name} is resting after repeated failures ({breaker.last_error});"
                    f" try again in {rest.retry_after:.0f}s",
                    source=self.name, retry_after=round(rest.retry_after, 1),
                ) from None
            started = time.monotonic()
            try:
                async with self.guard.connections:
                    response = await self._attempt(method, target, headers=sent, data=data, decoder=decoder)
            except _Retryable as failure:
                if failure.status != 429:  # a rate limit is an answer, not a sick source
                    breaker.failed(failure.reason)
                last = failure
            except errors.SourceUnavailable as failure:
                breaker.failed(failure.message)
                raise
            except errors.CentralCloudError:
                breaker.succeeded(time.monotonic() - started)  # it answered, if not what we hoped
                raise
            else:
                breaker.succeeded(time.monotonic() - started)
                return response
            if attempt == attempts:
                break
            delay = last.retry_after if last.retry_after is not None else self._backoff(attempt)
            log.warning(
                "%s %s failed (%s); retrying in %.2fs",
                method,
                _redact(url),
                last.reason,
                delay,
                extra={
                    "action": "source.retry",
                    "ecosystem": self.ecosystem,
                    "source": self.name,
                    "attempt": attempt,
                    "status": last.status,
                    "delay": delay,
                },
            )
            await asyncio.sleep(delay)
        raise errors.SourceUnavailable(
            f"{self.name} did not answer {method} {_redact(url)} after {attempts} attempts: {last.reason}",
            source=self.name,
            url=_redact(url),
            status=last.status,
        ) from last

    async def _attempt(
        self, method: str, target: yarl.URL, *, headers: Mapping[str, str], data: bytes | None, decoder: Decoder | None
    ) -> Response:
        url = str(target)
        try:
            async with self.session.request(
                method,
                target,
                headers=headers,
                data=data,
                timeout=aiohttp.ClientTimeout(total=self.policy.timeout),
            ) as resp:
                status = resp.status
                if status == 304:
                    return self._response(resp, None)
                if status in (404, 410):
                    raise errors.NotFound(f"{self.name} has nothing at {_redact(url)}", source=self.name)
                if status == 429 or status >= 500:
                    wait = retry_after_seconds(resp.headers.get("Retry-After"))
                    raise _Retryable(
                        f"HTTP {status}",
                        status=status,
                        retry_after=None if wait is None else min(wait, self.policy.max_retry_wait),
                    )
                if not 200 <= status < 300:
                    raise errors.SourceUnavailable(
                        f"{self.name} refused {method} {_redact(url)}: HTTP {status}", source=self.name, status=status
                    )
                body = await self._read(resp, url)
                # Subclasses that read another format override _decode with its three arguments.
                json = self._decode(resp, body, url) if decoder is None else self._decode(resp, body, url, decoder=decoder)
                return self._response(resp, json)
        except TimeoutError as err:
            raise _Retryable(f"no complete answer within {self.policy.timeout}s") from err
        except aiohttp.ClientError as err:
            raise _Retryable(f"{type(err).__name__}: {err}") from err

    async def _read(self, resp: aiohttp.ClientResponse, url: str) -> bytearray:
        cap = self.policy.max_body_bytes
        declared = resp.content_length
        if declared is not None and declared > cap:
            raise self._too_large(url, declared)
        # Counted while streaming too: chunked answers declare no length, and decompression grows bodies.
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK_BYTES):
            body += chunk
            if len(body) > cap:
                raise self._too_large(url, len(body))
        return body

    def _too_large(self, url: str, size: int) -> errors.BadResponse:
        return errors.BadResponse(
            f"{self.name} answered {_redact(url)} with more than {self.policy.max_body_bytes} bytes",
            source=self.name,
            size=size,
        )

    def _decode(
        self, resp: aiohttp.ClientResponse, body: bytearray, url: str, *, decoder: Decoder = msgspec.json.decode
    ) -> Any:
        try:
            return decoder(body)
        except msgspec.DecodeError as err:
            raise errors.BadResponse(
                f"{self.name} answered {_redact(url)} with invalid JSON"
                f" ({resp.content_type}, {len(body)} bytes): {err}",
                source=self.name,
                content_type=resp.content_type,
            ) from err

    @staticmethod
    def _response(resp: aiohttp.ClientResponse, json: Any) -> Response:
        return Response(
            status=resp.status,
            json=json,
            etag=resp.headers.get("ETag"),
            last_modified=resp.headers.get("Last-Modified"),
            headers=resp.headers,
        )

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (attempt - 1))
        # Jitter keeps workers that failed together from retrying together.
        return random.uniform(ceiling / 2, ceiling)


def retry_after_seconds(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (clock.aware(when) - now).total_seconds())


def _redact(url: str) -> str:
    # Index URLs from pip or npm configuration may carry credentials.
    return str(yarl.URL(url, encoded=True).with_user(None))
