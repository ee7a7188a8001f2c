"""`throne dashboard`: the web dashboard over an event log, read-only, with no daemon.

It serves the status API's app (the JSON routes and the pages under ``/dashboard``) over a
read side of its own, opened read-only as the read commands open it: the file is never
written, and a log no daemon keeps is projected in memory, then kept up to date as it grows.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from throne.cli.main import CommandError
from throne.cli.reads import DEFAULT_NETUID, add_db_option, default_db, open_reads

DEFAULT_PORT = 8080


class ReadOnlyHealth:
    """``/healthz`` of a dashboard: no daemon is behind it, so there is no tick to report."""

    def status(self, max_staleness: float | None = None) -> tuple[bool, dict[str, Any]]:
        return True, {"status": "read-only", "outages": {}, "daemon": None}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "dashboard",
        help="serve the web dashboard over an event log, read-only",
        description=(
            "Serve the web dashboard (the overview, reigns, battles, miners, environments, "
            "weights and audit pages under /dashboard) and the status API's JSON routes over "
            "an event log, read-only: no daemon is needed and the log is never written. The "
            "pages follow the log as it grows. A daemon with a status_port serves the same "
            "pages."
        ),
    )
    add_db_option(p)
    p.add_argument(
        "--netuid",
        type=int,
        default=DEFAULT_NETUID,
        help=f"the subnet whose contest to show (default: {DEFAULT_NETUID})",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="the port to listen on; 0 picks a free one (default: %(default)s)",
    )
    p.add_argument(
        "--refresh-seconds",
        type=float,
        default=1.0,
        metavar="S",
        help="look at the log for changes at most every S seconds (default: %(default)s)",
    )
    p.add_argument(
        "--publish-to",
        metavar="s3://BUCKET/PREFIX",
        default="",
        help="where the log is published ([publish] to): the audit page reads its index for "
        "the last signed checkpoint and shows the command that verifies it",
    )
    p.add_argument("--endpoint-url", default="", help="the S3-compatible endpoint of --publish-to")
    p.add_argument("--region", default="", help="the bucket's region of --publish-to")
    p.add_argument(
        "--index-url",
        default="",
        metavar="URL",
        help="the public https:// URL of the published index.json, shown as a second way to verify",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from throne.daemon.settings import redact_url
    from throne.domain.contest.config import ContestConfig
    from throne.observability.status_api import bound_socket, status_app

    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port must be from 0 to 65535, not {args.port}")
    if args.refresh_seconds < 0:
        raise CommandError("--refresh-seconds must be 0 or more")
    publication = _publication(args)
    url = args.db or default_db()
    reads = open_reads(url, ContestConfig(netuid=args.netuid))
    try:
        try:
            sock = bound_socket(args.host, args.port)
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
                "choose another --port"
            ) from exc
        app = status_app(
            lambda: reads,
            heartbeat=ReadOnlyHealth(),
            refresh_seconds=args.refresh_seconds,
            publication=publication,
            db_hint=redact_url(url),
        )
        port = sock.getsockname()[1]
        # Listening before the address is printed: whoever reads it may connect at once (the
        # server accepts once it has started; until then connections wait in the backlog).
        sock.listen(128)
        print(
            f"throne dashboard: {redact_url(url)} at http://{args.host}:{port}/dashboard "
            "(read-only; Ctrl-C stops)",
            flush=True,
        )
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", log_level="warning"
        )
        # uvicorn stops gracefully on SIGTERM, then raises the signal again once it has: with
        # this handler that second one is a no-op, and the command closes the log and exits 0.
        signal.signal(signal.SIGTERM, lambda *_: None)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        reads.close()
    print("throne dashboard: stopped", file=sys.stderr)
    return 0


def _publication(args: argparse.Namespace) -> Any:
    if not args.publish_to:
        if args.endpoint_url or args.region or args.index_url:
            raise CommandError("--endpoint-url, --region and --index-url go with --publish-to")
        return None
    from throne.observability.publication import PublishTarget, open_publication
    from throne.ports.object_store import S3Location

    target = PublishTarget(args.publish_to, args.endpoint_url, args.region, args.index_url)
    try:
        S3Location.parse(target.to)
    except ValueError as exc:
        raise CommandError(f"--publish-to: {exc}") from exc
    if args.index_url and not args.index_url.startswith(("https://", "http://")):
        raise CommandError("--index-url must be an http(s):// URL of index.json")
    return open_publication(target)
