"""GitHub's REST API: facts about the repository a package points at.

GitHub meters requests per hour (60 without a token, 5,000 with one) and says
how much is left in every answer. Once the budget is spent this source refuses
at once, without sending, until the announced reset: GitHub answers requests
over budget with 403/429 and may block clients that keep sending them.
Conditional requests answered 304 do not count against the budget.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import aiohttp

from centralcloud.core import errors, model
from centralcloud.sources import http, limits, readers, repository_urls

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
UNAUTHENTICATED_BUDGET = 60

# GitHub logins: alphanumerics and single hyphens; repository names add . and _.
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9._-]{1,100}$")

_warned_unauthenticated = False


def parse_github_url(url: object) -> tuple[str, str] | None:
    """(owner, repository) of a github.com repository URL in any form manifests use; None for other hosts."""
    normalized = repository_urls.normalize_repository_url(url)
    if normalized is None or not normalized.startswith("https://github.com/"):
        return None
    owner, _, repository = normalized.removeprefix("https://github.com/").partition("/")
    if not _OWNER.match(owner) or not _REPOSITORY.match(repository) or repository in (".", ".."):
        return None
    return owner, repository


class GithubSource(http.HttpSource):
    """GitHub's REST API (or a GitHub Enterprise Server's, at its /api/v3 base)."""

    name = "github"

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_URL,
        policy: http.HttpPolicy = http.HttpPolicy(),
        token: str | None = None,
    ) -> None:
        super().__init__(session=session, base_url=base_url, policy=policy)
        self._budget = limits.HeaderBudget()
        self._headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self.authenticated = bool(token)
        # Checked before every attempt, so the base's retries of a 429 do not send either.
        self.session = limits.GatedSession(  # type: ignore[assignment]
            session, before=self._refuse_when_spent, after=self._observe
        )

    @property
    def budget_remaining(self) -> int | None:
        """Requests left in the current window, as GitHub last said; None before any answer."""
        return self._budget.remaining

    @property
    def budget_reset(self) -> dt.datetime | None:
        """When the window resets (aware UTC datetime), as GitHub last said; None before any answer."""
        return self._budget.reset_datetime

    async def fetch_repository(
        self, url: str, *, etag: str | None = None
    ) -> tuple[model.RepositoryFacts | None, str | None]:
        """The repository's facts and the ETag to send next time; facts are None when GitHub answers 304.

        Raises BadRequest for a URL that names no github.com repository, NotFound for
        a repository that does not exist (or is private), and SourceUnavailable when
        the rate budget is spent, with the reset time in `details["reset"]`.
        """
        parsed = parse_github_url(url)
        if parsed is None:
            raise errors.BadRequest(f"{url!r} is not a github.com repository URL", url=url)
        owner, repository = parsed
        self._warn_once_without_token()
        try:
            response = await self.get_json(f"repos/{owner}/{repository}", etag=etag, headers=self._headers)
        except errors.SourceUnavailable as err:
            if err.details.get("status") in (403, 429) and self._budget.exhausted():
                raise self._rate_limited() from err
            raise
        if response.not_modified:
            return None, response.etag
        with readers.mapping_errors(source=self.name, ecosystem=None, package=f"{owner}/{repository}"):
            facts = self._facts(response.json, owner=owner, repository=repository)
        return facts, response.etag

    def _facts(self, doc: Any, *, owner: str, repository: str) -> model.RepositoryFacts:
        doc = readers.expect(doc, dict, source=self.name, what="the repository")
        # A renamed or transferred repository answers (after a redirect) under its new name.
        name = readers.text(doc.get("name")) or repository
        login = readers.text(readers.obj(doc.get("owner")).get("login")) or owner
        url = repository_urls.normalize_repository_url(doc.get("html_url")) or f"https://github.com/{login}/{name}"
        license_id = readers.text(readers.obj(doc.get("license")).get("spdx_id"))
        return model.RepositoryFacts(
            url=url,
            host="github.com",
            owner=login,
            name=name,
            description=readers.text(doc.get("description")),
            stars=_count(doc.get("stargazers_count")),
            forks=_count(doc.get("forks_count")),
            open_issues=_count(doc.get("open_issues_count")),
            pushed_at=readers.parse_timestamp(doc.get("pushed_at")),
            archived=_flag(doc.get("archived")),
            disabled=_flag(doc.get("disabled")),
            # GitHub says NOASSERTION when it found a license it cannot name.
            license=None if license_id == "NOASSERTION" else license_id,
            topics=readers.strings(doc.get("topics")),
            default_branch=readers.text(doc.get("default_branch")),
        )

    async def _refuse_when_spent(self) -> None:
        if self._budget.exhausted():
            raise self._rate_limited()

    def _observe(self, status: int, headers: Any) -> None:
        self._budget.observe(headers)

    def _rate_limited(self) -> errors.SourceUnavailable:
        reset = self._budget.reset_datetime
        return errors.SourceUnavailable(
            f"GitHub rate limit spent until {reset.isoformat() if reset else 'an unknown time'}",
            source=self.name,
            reset=reset.isoformat() if reset else None,
            remaining=0,
        )

    def _warn_once_without_token(self) -> None:
        global _warned_unauthenticated
        if self.authenticated or _warned_unauthenticated:
            return
        _warned_unauthenticated = True
        log.warning(
            "no GitHub token configured: the unauthenticated budget of %d requests an hour applies",
            UNAUTHENTICATED_BUDGET,
            extra={"action": "source.unauthenticated", "source": self.name},
        )


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None
