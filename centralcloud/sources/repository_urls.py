"""Repository URLs as manifests write them, made into one browsable https URL each."""

from __future__ import annotations

import re
import urllib.parse

from centralcloud.sources import readers

_SHORTHAND = re.compile(r"^(?P<host>github|gitlab|bitbucket):(?P<path>[\w.-]+/[\w.-]+)$")
_SHORTHAND_HOSTS = {"github": "github.com", "gitlab": "gitlab.com", "bitbucket": "bitbucket.org"}
# npm reads a bare "owner/repo" as a GitHub repository.
_BARE = re.compile(r"^[\w.-]+/[\w.-]+$")
# scp-like git addresses: git@github.com:owner/repo.git (a digit after the colon would be a port).
_SCP = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w-]+(?:\.[\w-]+)+):(?P<path>[^/\d\s]\S*)$")
# Hosts where a repository is exactly the first two path segments.
_TWO_SEGMENT_HOSTS = {"github.com", "bitbucket.org"}


def normalize_repository_url(url: object) -> str | None:
    """A browsable https URL for a repository written any of the ways manifests write them."""
    value = readers.text(url)
    if value is None:
        return None
    value = value.split("#", 1)[0].removeprefix("git+")
    if match := _SHORTHAND.match(value):
        value = f"https://{_SHORTHAND_HOSTS[match['host']]}/{match['path']}"
    elif _BARE.match(value):
        value = f"https://github.com/{value}"
    elif match := _SCP.match(value.removeprefix("ssh://")):
        value = f"https://{match['host']}/{match['path']}"
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:  # a malformed IPv6 host, for one
        return None
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.scheme not in ("http", "https", "git", "ssh") or not host:
        return None
    path = parts.path.split("/-/", 1)[0].rstrip("/").removesuffix(".git")
    if host in _TWO_SEGMENT_HOSTS:
        segments = [segment for segment in path.split("/") if segment][:2]
        if len(segments) < 2:
            return None
        return f"https://{host}/{segments[0]}/{segments[1].removesuffix('.git')}"
    if parts.scheme == "http":
        return urllib.parse.urlunsplit(("http", parts.netloc.rpartition("@")[2], path, "", ""))
    # git:// and ssh addresses of other hosts are browsed over https at the same path.
    netloc = parts.netloc.rpartition("@")[2] if parts.scheme == "https" else host
    return urllib.parse.urlunsplit(("https", netloc, path, "", ""))
