"""Repository facts (GitHub): fetched beside package facts, never in an answer's way."""

from __future__ import annotations

import logging
from typing import Literal

from centralcloud.core import errors
from centralcloud.sources import github, repository_urls
from centralcloud.store import db
from centralcloud.store import repositories as store_repositories

logger = logging.getLogger(__name__)

Outcome = Literal["updated", "unchanged", "failed"]


class RepositoryFacts:
    def __init__(self, *, database: db.Database, github_source: github.GithubSource | None) -> None:
        self.database = database
        self.github = github_source

    async def refresh(self, url: str) -> Outcome | None:
        """Fetch GitHub facts for a repository URL and link packages to them.

        None when the URL is not a GitHub repository (or no GitHub source is configured);
        failures are logged and reported as "failed", never raised.
        """
        if self.github is None or github.parse_github_url(url) is None:
            return None
        normalized = repository_urls.normalize_repository_url(url) or url
        etag = await store_repositories.validator(self.database, normalized)
        try:
            facts, etag = await self.github.fetch_repository(normalized, etag=etag)
        except errors.CentralCloudError as err:
            logger.info("repository %s not refreshed: %s", normalized, err.message,
                        extra={"action": "refresh_repository", "source": "github"})
            return "failed"
        outcome: Outcome
        if facts is None:
            repository_id = await store_repositories.touch(self.database, normalized)
            outcome = "unchanged"
        else:
            repository_id = await store_repositories.save_repository(self.database, facts, etag=etag, url=normalized)
            outcome = "updated"
        if repository_id is not None:
            await store_repositories.link(self.database, repository_id=repository_id, url=url)
        return outcome
