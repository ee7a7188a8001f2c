"""`throne pull HOTKEY|UID`: download the model a miner committed, as the validator would.

The miner's model and revision are read from the event log (the read side, as `throne miner`
does); the files come from the Hub through ``huggingface_hub.snapshot_download``, the same path
as the validator's model cache, into a plain folder. ``HF_ENDPOINT`` (a mirror, or a loopback
Hub) and ``HF_TOKEN`` are honoured.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from throne import views
from throne.cli.main import CommandError
from throne.cli.reads import add_read_options, read
from throne.cli.tables import console, print_json
from throne.views.miner import BadMinerKey, parse_miner_key

DEFAULT_ENDPOINT = "https://huggingface.co"
#: what a folder named after a model may hold: the repo's name, never a path of its own
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "pull",
        help="download the model a miner committed (its repo at its committed revision)",
        description=(
            "Download the model a miner committed: the repo and revision of its commitment, "
            "read from the event log, fetched from the Hugging Face Hub with huggingface_hub "
            "(snapshot_download), the way the validator fetches what it serves. "
            "$HF_ENDPOINT names another hub (a mirror), $HF_TOKEN is sent as the access token. "
            "Exit codes: 0 pulled; 1 an unknown miner, a miner with no readable commitment, or "
            "the hub's trouble (named: hub_unavailable, repo_not_visible, revision_not_found, "
            "repo_vanished, disk_full)."
        ),
        epilog="example: throne pull 5F3sa2TJ... --dir models/champion",
    )
    p.add_argument(
        "who", metavar="HOTKEY|UID", help="the miner's hotkey, or the uid it sits at now"
    )
    p.add_argument(
        "--dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="where to put the files (default: ./<the repo's name>)",
    )
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="seconds to wait for each answer of the hub (default: 60)",
    )
    add_read_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from throne.adapters.hub.cache import FetchFailed, commit_info, download

    try:
        parse_miner_key(args.who)
    except BadMinerKey as exc:
        raise CommandError(f"{exc}, got {args.who[:70]!r}") from None
    if args.timeout <= 0:
        raise CommandError(f"--timeout must be > 0, got {args.timeout}")
    data = read(args.db, args.netuid, lambda reads: views.miner(reads, args.who))
    if data is None:
        raise CommandError(f"no miner with hotkey or uid {args.who!r} in the event log")
    model, revision = data.get("model"), data.get("revision")
    if not model or not revision:
        why = data.get("invalid_reason") or "none recorded"
        raise CommandError(f"miner {data['hotkey']} has no readable commitment ({why})")
    name = model.rsplit("/", 1)[-1]
    if args.dir is None and not _SAFE_NAME.fullmatch(name):
        raise CommandError(f"the repo name {name!r} is not a folder name: give --dir")
    target: Path = args.dir if args.dir is not None else Path(name)
    endpoint = (os.environ.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT).rstrip("/")
    token = os.environ.get("HF_TOKEN") or None
    out = console()
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token or False)
    try:
        info = commit_info(api, model, revision, args.timeout)
        if not args.json:
            out.print(
                f"pulling {model} @ {info.sha} ({info.files} files, {_size(info.size)}) "
                f"from {endpoint} into {target}"
            )
        folder = download(
            model,
            revision,
            endpoint=endpoint,
            token=token,
            timeout=args.timeout,
            local_dir=target,
            progress=True,
        )
    except FetchFailed as exc:
        raise CommandError(f"cannot pull {model} @ {revision}: {exc}") from None
    if args.json:
        print_json(
            {
                "hotkey": data["hotkey"],
                "model": model,
                "revision": info.sha,
                "dir": str(folder),
                "files": info.files,
                "bytes": info.size,
            }
        )
    else:
        out.print(f"pulled {model} @ {info.sha} into {folder}")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"
