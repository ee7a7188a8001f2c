"""`throne audit export|verify`: publish the log with a signed hash chain; check one.

This module parses the arguments and prints; the audit itself is :mod:`throne.audit`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from throne.adapters.storage.database import DB_ENV_VAR, resolve_database
from throne.audit.format import DEFAULT_CHECKPOINT_EVERY, AuditError
from throne.audit.signing import load_signer
from throne.cli.audit_published import (
    add_published_options,
    check_not_published_options,
    is_published,
    run_verify_published,
)
from throne.cli.audit_report import fail, print_table
from throne.cli.chain_args import CHAIN_HELP, add_chain_db_option
from throne.cli.main import CommandError
from throne.cli.progress import ProgressLine

if TYPE_CHECKING:
    from throne.audit.log_export import Appended
    from throne.audit.onchain import OnchainQuery
    from throne.audit.sources import AuditSource
    from throne.audit.verification import Stage


def register(sub: Any) -> None:
    audit: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help="export the event log with signed checkpoints, or verify an export or a database",
        description=(
            "Publish the whole event log as JSON Lines with a sha256 hash chain and sr25519-signed "
            "checkpoints, or verify one: replay from scratch, check the chain and signatures, "
            "recompute every verdict, weight vector and retired pool."
        ),
    )
    commands = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    export = commands.add_parser(
        "export",
        help="write the log to FILE.jsonl or FILE.jsonl.gz",
        description=(
            "Write every event of the log, one canonical JSON object per line, with a signed "
            "checkpoint of the running sha256 head every N events and after each weight "
            "submission. The current pool's seed is left out until the pool is retired. "
            "With --append, add to an export already written only what the log holds after "
            "it, continuing its hash chain, and reveal the seeds of the pools it withheld that "
            "have been retired since."
        ),
    )
    _db_option(export)
    export.add_argument("--out", required=True, type=Path, help="FILE.jsonl or FILE.jsonl.gz")
    export.add_argument(
        "--append",
        action="store_true",
        help="extend the export FILE.jsonl (plain, format version 3, signed by the same --key) "
        "in place: its old lines stay as they are, but its end record, which is signed anew",
    )
    export.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help=f"sign the head every N events (default {DEFAULT_CHECKPOINT_EVERY}; an append "
        "keeps the export's own)",
    )
    export.add_argument(
        "--key",
        type=Path,
        help="signing key file: 0x hex seed, //uri or mnemonic (default: the local key, "
        "generated on first use)",
    )
    export.add_argument("--json", action="store_true", help="print the result as JSON")
    export.set_defaults(handler=run_export)

    verify = commands.add_parser(
        "verify",
        help="verify an export FILE, a published log (s3://, https://), or a database in place "
        "(--db, default the local one)",
        description=(
            "Replay from scratch. For an export: check the structure, the hash chain, every "
            "checkpoint signature and number, and the signed end record, which says the block "
            "the export is complete to. For both: recompute every verdict with judge from the "
            "SampleScored events, every weight vector, and every retired pool against its "
            "seed and commitment. Exit 0 when everything checks, 1 at the first mismatch. "
            "Never writes to the database. A published log (s3://BUCKET/PREFIX or the "
            "https:// URL of its index.json) is verified incrementally: see its options."
        ),
    )
    verify.add_argument(
        "file",
        nargs="?",
        metavar="FILE|URL",
        help="an export (.jsonl or .jsonl.gz), - to read one from standard input, or a "
        "published log: s3://BUCKET/PREFIX, https://HOST/PATH/index.json",
    )
    _db_option(verify)
    verify.add_argument(
        "--signer", metavar="SS58", help="the address whose signatures count (the validator's)"
    )
    verify.add_argument(
        "--rescore",
        action="store_true",
        help="also re-run each stored response through its environment and compare the "
        "score (needs --db: responses are kept in the log's database)",
    )
    verify.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="processes for an uncompressed export FILE, each verifying a span between "
        "checkpoints (default: the cores available, at most 8; 1 for one pass). A fault "
        "found in any span is explained by a pass over the whole file. With --rescore: the "
        "threads re-evaluating responses (default 4)",
    )
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    onchain = verify.add_argument_group(
        "weights on chain",
        "with --onchain, also read the validator's weight row from the chain: it must be the "
        "u16 vector of the last submission the log records as landed",
    )
    onchain.add_argument(
        "--onchain", action="store_true", help="check the validator's weights on chain too"
    )
    onchain.add_argument(
        "--chain", default="local", metavar="local|finney|test|URL", help=CHAIN_HELP
    )
    add_chain_db_option(onchain)
    onchain.add_argument("--netuid", type=int, help="the subnet (default: the log's contest's)")
    onchain.add_argument("--validator-uid", type=int, metavar="UID", help="the validator's uid")
    onchain.add_argument(
        "--validator-hotkey",
        metavar="HK",
        help="the validator's hotkey, to find its uid (default: the export's signer, which is "
        "the validator's hotkey on a Bittensor network)",
    )
    onchain.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="deadline of each chain call on a Bittensor network (default: 30)",
    )
    add_published_options(verify)
    # Reading needs no wallet: the chain adapter is opened without a signer.
    verify.set_defaults(
        handler=run_verify,
        hotkey=None,
        wallet_name="default",
        wallet_hotkey="default",
        wallet_path=Path("~/.bittensor/wallets"),
        data_dir=Path(".throne"),
    )


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--checkpoint-every``, ``--jobs``...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        help=f"sqlite:///path or postgresql://... (default: ${DB_ENV_VAR}, else the local file)",
    )


def run_export(args: argparse.Namespace) -> int:
    from throne.audit.append import AppendError
    from throne.audit.log_export import append_database, export_database

    every = DEFAULT_CHECKPOINT_EVERY if args.checkpoint_every is None else args.checkpoint_every
    if args.append and args.checkpoint_every is not None:
        raise CommandError("--append keeps the checkpoint interval the export's header names")
    if every < 1:
        raise CommandError("--checkpoint-every must be at least 1")
    signer = load_signer(args.key)
    started = time.perf_counter()
    db = resolve_database(args.db)
    label = "appending" if args.append else "exporting"
    try:
        with ProgressLine(label, unit="", scale=1, enabled=_progress_shown(args)) as line:
            if args.append:
                done: Any = append_database(db, args.out, signer, progress=line.update)
            else:
                done = export_database(
                    db, args.out, signer, checkpoint_every=every, progress=line.update
                )
    except AppendError as exc:
        raise CommandError(f"cannot append: {exc}") from exc
    except OSError as exc:
        raise CommandError(f"cannot write {args.out}: {exc.strerror}") from exc
    result = (
        {
            "events": done.events,
            "revealed": list(done.revealed),
            "version": done.version,
            "changed": done.changed,
            "restored": done.restored,
        }
        if args.append
        else {"events": done}
    )
    result.update(
        out=str(args.out),
        signer=signer.ss58_address,
        seconds=round(time.perf_counter() - started, 3),
    )
    if args.json:
        print(json.dumps(result))
    elif args.append:
        _print_appended(done, args.out, signer.ss58_address)
    else:
        print(f"exported {done} events to {args.out}, signed by {signer.ss58_address}")
    return 0


def _print_appended(appended: Appended, out: Path, signer: str) -> None:
    if appended.restored:
        print(f"{out}: an earlier append was interrupted; its partial part was removed")
    if not appended.changed:
        print(f"{out} is up to date: nothing new to append, left unchanged")
        return
    seeds = len(appended.revealed)
    revealed = f", revealed {seeds} pool seed{'s' if seeds != 1 else ''}" if seeds else ""
    print(f"appended {appended.events} events to {out}{revealed}, signed by {signer}")


def run_verify(args: argparse.Namespace) -> int:
    from throne.app import open_environments
    from throne.audit.onchain import NoSubnet, NotRegistered, NoValidator
    from throne.audit.sources import DatabaseLog, export_source
    from throne.audit.verification import Rescoring, verify

    if is_published(args.file):
        return run_verify_published(args)
    check_not_published_options(args)
    if args.rescore and args.file is not None:
        raise CommandError(
            "--rescore re-reads the stored responses, which live in the log's database: "
            "use --db URL"
        )
    if args.jobs is not None and args.file is None and not args.rescore:
        raise CommandError(
            "--jobs splits an export FILE, or sets the threads of --rescore; a database is "
            "verified in one pass"
        )
    if args.file is not None and args.db is not None:
        raise CommandError("give either an export FILE or --db URL, not both")
    if not args.onchain and (args.validator_uid is not None or args.validator_hotkey):
        raise CommandError("--validator-uid and --validator-hotkey go with --onchain")
    started = time.perf_counter()
    source: AuditSource = (
        export_source(Path(args.file))
        if args.file is not None
        else DatabaseLog(resolve_database(args.db))
    )
    try:
        with closing(_StageLines(_progress_shown(args))) as progress:
            report = verify(
                source,
                expected_signer=args.signer,
                jobs=args.jobs if args.file is not None else None,
                rescore=Rescoring(open_environments(), args.jobs or 4) if args.rescore else None,
                onchain=_onchain_query(args) if args.onchain else None,
                progress=progress,
            )
    except AuditError as exc:
        return fail(args, exc)
    except NoSubnet as exc:
        raise CommandError("the log holds no contest: name the subnet with --netuid") from exc
    except NoValidator as exc:
        raise CommandError(
            "a database names no signer: say whose weights with --validator-uid UID or "
            "--validator-hotkey HK"
        ) from exc
    except NotRegistered as exc:
        hint = (
            ""
            if exc.named
            else " (it signed the export; name the validator with --validator-uid or "
            "--validator-hotkey)"
        )
        raise CommandError(f"{exc}{hint}") from exc
    elapsed = time.perf_counter() - started
    printed = report.to_dict()
    events = printed["events"]
    printed.update(
        seconds=round(elapsed, 3),
        events_per_second=round(events / elapsed) if elapsed > 0 else None,
    )
    if args.json:
        print(json.dumps(printed))
    else:
        print_table(printed)
    return 0


def _onchain_query(args: argparse.Namespace) -> OnchainQuery:
    from throne.audit.onchain import OnchainQuery
    from throne.cli.chain_args import open_chain

    return OnchainQuery(
        lambda: open_chain(args, need_signer=False),
        args.netuid,
        args.validator_uid,
        args.validator_hotkey,
    )


class _StageLines:
    """One progress line per stage of a verification, each erased when the next begins."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._stage: Stage | None = None
        self._line = ProgressLine("", enabled=False)

    def __call__(self, stage: Stage, done: int, total: int) -> None:
        if stage is not self._stage:
            from throne.audit.verification import Stage

            self.close()
            label = "re-scoring" if stage is Stage.RESCORE else "verifying"
            # an export's progress is in bytes, a database's in notification ids
            unit, scale = ("MB", 1e6) if stage is Stage.EXPORT else ("", 1)
            self._line = ProgressLine(label, unit=unit, scale=scale, enabled=self._enabled)
            self._stage = stage
        self._line.update(done, total)

    def close(self) -> None:
        self._line.close()


def _progress_shown(args: argparse.Namespace) -> bool:
    """A progress line on stderr when it is a terminal, and not under ``--json``."""
    return not args.json and sys.stderr.isatty()
