"""`throne publish --to s3://BUCKET/PREFIX`: the signed log to S3-compatible storage, as
immutable parts and one index (docs/publish.md); with ``--every-blocks N``, again every N blocks.

This module parses the arguments and prints; publishing is :mod:`throne.audit.publisher`."""

from __future__ import annotations

import argparse
import json
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from throne.adapters.storage.database import DB_ENV_VAR, resolve_database
from throne.audit.format import DEFAULT_CHECKPOINT_EVERY
from throne.cli.audit import positive_int
from throne.cli.chain_args import CHAIN_HELP, add_chain_db_option
from throne.cli.main import CommandError

if TYPE_CHECKING:
    from throne.audit.publisher import Published


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "publish",
        help="publish the signed log to S3-compatible storage (S3, R2, MinIO)",
        description=(
            "Append the log's signed export to s3://BUCKET/PREFIX as immutable parts "
            "(PREFIX/parts/NNNNNN-<sha256>.jsonl.gz, each what an `audit export --append` would "
            "add, ending at a signed checkpoint) and one index (PREFIX/index.json), the only "
            "object ever rewritten. A part is written before the index names it; a part left "
            "unnamed by an interrupted run is adopted if it is exactly the next one, else "
            "removed. Run again, it uploads only what is new. Credentials: AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), or AWS_PROFILE and the AWS config "
            "files; the endpoint: --endpoint-url or AWS_ENDPOINT_URL. Auditors check it with "
            "`throne audit verify s3://BUCKET/PREFIX` or the index's public https URL."
        ),
    )
    p.add_argument("--to", required=True, metavar="s3://BUCKET/PREFIX", help="where to publish")
    p.add_argument(
        "--db",
        metavar="URL",
        help=f"sqlite:///path or postgresql://... (default: ${DB_ENV_VAR}, else the local file)",
    )
    p.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="the S3-compatible endpoint, e.g. https://ACCOUNT.r2.cloudflarestorage.com or a "
        "MinIO server (default: $AWS_ENDPOINT_URL, else Amazon S3)",
    )
    p.add_argument(
        "--region", help="the bucket's region (default: $AWS_REGION or $AWS_DEFAULT_REGION)"
    )
    p.add_argument(
        "--key",
        type=Path,
        help="signing key file: 0x hex seed, //uri or mnemonic (default: the local key, as "
        "`throne audit export` uses); a log already published must be published with its key",
    )
    p.add_argument(
        "--checkpoint-every",
        type=positive_int,
        metavar="N",
        default=DEFAULT_CHECKPOINT_EVERY,
        help=f"for a log published for the first time: sign the head every N events (default "
        f"{DEFAULT_CHECKPOINT_EVERY}); afterwards the published header's interval is kept",
    )
    p.add_argument(
        "--part-ids",
        type=positive_int,
        metavar="N",
        help="notification ids one part spans at most (default 50000)",
    )
    p.add_argument(
        "--every-blocks",
        type=positive_int,
        metavar="N",
        help="keep running: publish now, then each time the chain is N blocks further on, "
        "until SIGTERM or SIGINT; a failed attempt is one line on stderr, and the next "
        "attempt retries (the daemon does the same with [publish] every_blocks)",
    )
    chain = p.add_argument_group("chain (with --every-blocks: where the blocks are counted)")
    chain.add_argument("--chain", default="local", metavar="local|finney|test|URL", help=CHAIN_HELP)
    add_chain_db_option(chain)
    chain.add_argument(
        "--poll", type=float, default=12.0, metavar="SECONDS", help="how often to look at the chain"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(
        handler=run_publish,
        hotkey=None,
        timeout=30.0,
        wallet_name="default",
        wallet_hotkey="default",
        wallet_path=Path("~/.bittensor/wallets"),
        data_dir=Path(".throne"),
    )


def run_publish(args: argparse.Namespace) -> int:
    from throne.app import open_object_store
    from throne.audit.publisher import PART_IDS, PublishError, publish
    from throne.audit.signing import load_signer
    from throne.ports.object_store import StoreError

    try:
        store = open_object_store(args.to, endpoint_url=args.endpoint_url, region=args.region)
    except ValueError as exc:
        raise CommandError(f"--to: {exc}") from exc
    except StoreError as exc:
        raise CommandError(str(exc)) from exc
    signer = load_signer(args.key)
    db = resolve_database(args.db)

    def once() -> Published:
        return publish(
            db,
            store,
            signer,
            checkpoint_every=args.checkpoint_every,
            part_ids=args.part_ids or PART_IDS,
        )

    if args.every_blocks is not None:
        return _keep_publishing(args, once)
    started = time.perf_counter()
    try:
        done = once()
    except (StoreError, PublishError) as exc:
        raise CommandError(f"cannot publish to {store.where}: {exc}") from exc
    if args.json:
        result = _as_dict(done)
        result.update(signer=signer.ss58_address, seconds=round(time.perf_counter() - started, 3))
        print(json.dumps(result))
    else:
        _print_published(done, signer.ss58_address)
    return 0


def _as_dict(done: Published) -> dict[str, Any]:
    return {
        "to": done.where,
        "parts": done.parts,
        "written": list(done.written),
        "adopted": list(done.adopted),
        "removed": list(done.removed),
        "events": done.events,
        "last_id": done.last_id,
        "complete_to_block": done.block,
        "conditional_writes": done.conditional,
    }


def _print_published(done: Published, signer: str) -> None:
    for key in done.adopted:
        print(f"adopted {key}: an interrupted run wrote it but did not name it in the index")
    for key in done.removed:
        print(f"removed {key}: an unnamed part that was not the next one")
    if not done.conditional:
        print("note: the store refused conditional writes; each key was read before writing")
    block = "" if done.block is None else f", complete to block {done.block}"
    if not done.written:
        print(f"{done.where} is up to date: {done.parts} parts, {done.events} events{block}")
        return
    n = len(done.written)
    print(
        f"published {n} new part{'s' if n != 1 else ''} to {done.where}: {done.parts} parts, "
        f"{done.events} events{block}, signed by {signer}"
    )


def _keep_publishing(args: argparse.Namespace, once: Any) -> int:
    """Publish every ``--every-blocks`` blocks of the chain until a signal stops it."""
    import asyncio

    from throne import event_loop
    from throne.cli.chain_args import open_chain
    from throne.daemon.publishing import PublishLoop
    from throne.observability.logging import configure_logging

    if args.poll <= 0:
        raise CommandError("--poll must be positive")
    configure_logging("INFO")
    chain = open_chain(args, need_signer=False)
    loop = PublishLoop(
        once,
        every_blocks=args.every_blocks,
        current_block=chain.current_block,
        poll_seconds=args.poll,
    )

    async def until_signalled() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(sig, stop.set)
        await loop.run(stop)

    try:
        event_loop.run(until_signalled())
    finally:
        chain.close()
    return 0
