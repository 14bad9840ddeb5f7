"""The `centralcloud` command: run the service, or ask it questions over NATS."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from centralcloud import __version__
from centralcloud.core import errors
from centralcloud.runtime import app, asking, cli_answers, config, credentials, display, instance_cli, logs
from centralcloud.runtime import database as local
from centralcloud.wire import subjects

DESCRIPTION = "CentralCloud: package knowledge over NATS."


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
    serve.add_argument("--workers", type=int, help="service processes on this machine (also CENTRALCLOUD_WORKERS; default 1)")

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

    health = commands.add_parser("health", help="PostgreSQL, NATS and each source: up, degraded or down")
    health.add_argument("--json", action="store_true", help="print the reply as JSON")

    credentials.add_subcommands(commands)  # auth init, instance add|remove|list
    answer_commands = cli_answers.add_commands(commands)
    asking = instance_cli.add_commands(commands)  # report, patterns, alerts
    for sub in (get, search, request, advisories, sync, health, *answer_commands, *asking):
        sub.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the reply")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    overrides: dict[str, Any] = {"nats_url": args.nats_url}
    # serve, migrate and `advisories import` take these (`--secure` and `--workers` only serve)
    for name in ("embedded", "database_url", "data_dir", "nats_secure", "workers"):
        overrides[name] = getattr(args, name, None)
    try:
        settings = config.load(config_file=args.config, **overrides)
        if args.command in ("auth", "instance"):
            return credentials.run_command(args, auth_dir=settings.credentials_dir)
        if args.command == "serve":
            logs.setup_logging(settings.log_level, json_logs=args.json_logs)
            asyncio.run(app.run(settings, json_logs=args.json_logs))
            return 0
        if args.command == "migrate":
            logs.setup_logging(settings.log_level, json_logs=False)
            applied = asyncio.run(local.migrate_only(settings))
            print(f"applied migrations: {applied}" if applied else "schema is up to date")
            return 0
        if args.command == "get":
            payload = asking.package_payload(args.ecosystem, args.name) | {"max_versions": max(args.versions, 0)}
            return asking.answer(
                settings, args, subjects.PACKAGES_GET, payload,
                render=lambda reply: display.show_package(reply, versions=args.versions),
            )
        if args.command == "search":
            payload = {"query": args.query, "limit": args.limit}
            if args.ecosystem:
                payload["ecosystem"] = args.ecosystem
            return asking.answer(settings, args, subjects.PACKAGES_SEARCH, payload, render=display.show_search)
        if args.command == "advisories" and args.ecosystem == "import":
            logs.setup_logging(settings.log_level, json_logs=False)
            if not args.name:
                raise errors.BadRequest("usage: centralcloud advisories import PATH (an OSV all.zip or a directory of OSV JSON)")
            report = asyncio.run(local.import_advisories(settings, args.name))
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
                payload = asking.package_payload(args.ecosystem, args.name)
                if args.version:
                    payload["version"] = args.version
            return asking.answer(settings, args, subjects.PACKAGES_ADVISORIES, payload, render=display.show_advisories)
        if args.command == "sync" and args.action == "status":
            payload = {"run": args.run} if args.run is not None else {}
            return asking.answer(settings, args, subjects.SYNC_STATUS, payload, render=display.show_runs)
        if args.command == "sync":
            payload = {"packages": [asking.package_payload(item, None) for item in args.packages]} if args.packages else {}
            reply = asyncio.run(asking.ask(settings, subjects.SYNC_RUN, payload, timeout=args.timeout))
            if not args.follow or reply.get("run") is None:
                print(json.dumps(reply, indent=2) if args.json else reply["message"])
                return 0
            print(reply["message"], file=sys.stderr)
            final = asyncio.run(asking.follow(settings, reply["run"], timeout=args.timeout))
            print(json.dumps(final, indent=2) if args.json else display.show_runs(final))
            return 0 if final["runs"][0]["state"] == "succeeded" else 1
        if args.command in cli_answers.COMMANDS:
            subject, payload, render = cli_answers.request(args)
            return asking.answer(settings, args, subject, payload, render=render)
        if args.command == "request":
            payload = {"packages": [asking.package_payload(item, None) for item in args.packages]}
            return asking.answer(settings, args, subjects.PACKAGES_REQUEST, payload, render=display.show_request)
        if args.command == "health":
            reply = asyncio.run(asking.ask(settings, subjects.HEALTH, {}, timeout=args.timeout))
            print(json.dumps(reply, indent=2) if args.json else display.show_health(reply))
            return 0 if reply["state"] != "down" else 1
        if args.command == "patterns":
            subject, payload = instance_cli.patterns_payload(args)
            return asking.answer(settings, args, subject, payload, render=lambda reply: instance_cli.show(args.question, reply))
        if args.command == "report":
            instance = instance_cli.default_instance(args.instance)
            ack = asyncio.run(instance_cli.publish_report(settings, path=args.file, instance=instance, project=args.project))
            print(json.dumps(ack) if args.json else (
                f"report {'already stored' if ack['duplicate'] else 'stored'} in {ack['stream']} as message {ack['seq']}"
            ))
            return 0
        if args.command == "alerts":
            instance = instance_cli.default_instance(args.instance)
            return asyncio.run(instance_cli.read_alerts(settings, instance=instance, follow=args.follow, as_json=args.json))
    except asking.RemoteError as err:
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
