"""`throne audit verify s3://BUCKET/PREFIX | https://HOST/PATH/index.json`: a published log,
verified from where the last verification of it stopped (:mod:`throne.audit.incremental`).

`throne.cli.audit` hands over the verifications whose source is such a URL; this module adds
their options to its parser and prints their report."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from throne.cli.audit_report import fail, print_table
from throne.cli.main import CommandError

PUBLISHED_HELP = (
    "A published log (`throne publish`), named by s3://BUCKET/PREFIX or by the https:// URL of "
    "its index.json, is verified incrementally: the index is compared with the state file of "
    "the last run (the parts verified before must still be named, first and unchanged), only "
    "the parts published since are downloaded, each checked against the index (sha256, size, "
    "what it holds), and its links, checkpoint numbers and signatures verified from the head "
    "the part before signed; then the state advances. The first run (or --full) downloads "
    "every part and also replays the whole contest, recomputing every verdict, weight vector "
    "and retired pool; later runs check the new parts' links, signatures and order, not the "
    "contest's decisions (run --full for those)."
)


def is_published(source: str | None) -> bool:
    """Whether a verify's source names a published log rather than an export file."""
    return source is not None and source.startswith(("s3://", "http://", "https://"))


def add_published_options(verify: argparse.ArgumentParser) -> None:
    group = verify.add_argument_group("a published log (s3:// or https://)", PUBLISHED_HELP)
    group.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="what was verified so far (default: a file per log in $XDG_CACHE_HOME/throne/"
        "verified, ~/.cache by default)",
    )
    group.add_argument(
        "--full",
        action="store_true",
        help="verify every part and replay the contest, whatever the state says (then the "
        "state starts afresh)",
    )
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="for s3://: the S3-compatible endpoint (default: $AWS_ENDPOINT_URL, else AWS S3)",
    )
    group.add_argument("--region", help="for s3://: the bucket's region (default: $AWS_REGION)")


def check_not_published_options(args: argparse.Namespace) -> None:
    """The options of a published log are refused with an export FILE or a database."""
    given = [
        name
        for name, value in (
            ("--state", args.state),
            ("--full", args.full),
            ("--endpoint-url", args.endpoint_url),
            ("--region", args.region),
        )
        if value
    ]
    if given:
        raise CommandError(
            f"{', '.join(given)} go with a published log (s3://BUCKET/PREFIX or an https:// "
            "URL of its index.json)"
        )


def run_verify_published(args: argparse.Namespace) -> int:
    from throne.app import open_published_log
    from throne.audit.format import AuditError
    from throne.audit.incremental import verify_published
    from throne.audit.verified_state import default_state_path
    from throne.ports.object_store import StoreError

    refused = [
        flag
        for flag, value in (
            ("--db", args.db),
            ("--rescore", args.rescore),
            ("--jobs", args.jobs),
            ("--onchain", args.onchain),
        )
        if value
    ]
    if refused:
        raise CommandError(f"{', '.join(refused)} cannot be used with a published log")
    started = time.perf_counter()
    try:
        reader, index_key = open_published_log(
            args.file, endpoint_url=args.endpoint_url, region=args.region
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    state = args.state or default_state_path(reader.where)
    try:
        report = verify_published(
            reader,
            state_path=state,
            index_key=index_key,
            expected_signer=args.signer,
            full=args.full,
        )
    except AuditError as exc:
        return fail(args, exc)
    except StoreError as exc:
        raise CommandError(f"cannot read {reader.where}: {exc}") from exc
    printed = report.to_dict()
    printed["seconds"] = round(time.perf_counter() - started, 3)
    if args.json:
        print(json.dumps(printed))
        return 0
    audit = report.audit
    if audit is not None:
        events = printed["events"]
        elapsed = printed["seconds"]
        printed["events_per_second"] = round(events / elapsed) if elapsed > 0 else None
        print_table(printed, published=_published_rows(printed))
    else:
        _print_incremental(printed)
    return 0


def _published_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    checked = len(report["checked"])
    return [
        ("parts", f"{checked} of {report['parts']} downloaded and checked against the index"),
        ("state", report["state"]),
    ]


def _print_incremental(report: dict[str, Any]) -> None:
    checked = report["checked"]
    rows: list[tuple[str, str]] = [("source", report["source"])]
    if not checked:
        rows.append(("parts", f"{report['parts']}, none new since the last verification"))
    else:
        chain = report["chain"]
        pinned = "" if chain["signer_pinned"] else " (not pinned: pass --signer)"
        block = chain["complete_to_block"]
        rows += [
            ("parts", f"{len(checked)} new of {report['parts']}, checked against the index"),
            ("hash chain", f"ok, continued from the state to head {chain['head'][:16]}..."),
            ("signer", chain["signer"] + pinned),
            ("end", "signed: complete" + ("" if block is None else f" to block {block}")),
            ("events", str(chain["events"])),
            ("replay", "not run (incremental: links, signatures, order, index); --full replays"),
        ]
    rows += [("state", report["state"]), ("time", f"{report['seconds']} s")]
    width = max(len(k) for k, _ in rows)
    print("audit verify: OK")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
