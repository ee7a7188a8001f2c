"""`throne commit`: a miner publishes its model, once, on either chain."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from throne.adapters.chain.commitment import commitment_text
from throne.cli.chain_args import add_chain_options, chain_errors, open_chain
from throne.cli.main import CommandError

WARNING = (
    "WARNING: a hotkey commits once. A second commitment from the same hotkey invalidates it "
    "for good: the validator stops evaluating it, whatever the new model is."
)
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "commit",
        help="publish your model (once per hotkey) on chain",
        description=(
            "Publish a miner's commitment {model, revision} from its hotkey. " + WARNING + " "
            "If the hotkey already has a commitment on chain the command refuses unless "
            "--replace is given."
        ),
    )
    p.add_argument("--repo", required=True, metavar="USER/REPO", help="Hugging Face model repo")
    p.add_argument(
        "--revision",
        required=True,
        metavar="SHA",
        help="the repo's full 40-character commit SHA (not a branch or tag)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="commit even though this hotkey already has a commitment (invalidates it)",
    )
    p.add_argument("--json", action="store_true", help="print the receipt as JSON")
    add_chain_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not _REPO.match(args.repo):
        raise CommandError(f"--repo must look like user/repo, got {args.repo!r}")
    if not _SHA.match(args.revision):
        raise CommandError(
            f"--revision must be the full 40-character lowercase commit SHA (got {args.revision!r})"
        )
    print(WARNING, file=sys.stderr)
    chain = open_chain(args, need_signer=True)
    try:
        with chain_errors():
            hotkey = chain.signer_hotkey
            earlier = [c for c in chain.snapshot(args.netuid).commitments if c.hotkey == hotkey]
            if earlier and not args.replace:
                raise CommandError(
                    f"{hotkey} already committed at block {earlier[0].block}; committing again "
                    "invalidates this hotkey (pass --replace to do it anyway)"
                )
            receipt = chain.commit(args.netuid, commitment_text(args.repo, args.revision))
    finally:
        chain.close()
    if args.json:
        print(
            json.dumps(
                {
                    "netuid": receipt.netuid,
                    "hotkey": receipt.hotkey,
                    "block": receipt.block,
                    "text": receipt.text,
                    "extrinsic_id": receipt.extrinsic_id,
                }
            )
        )
    else:
        print(
            f"committed {args.repo}@{args.revision} from {receipt.hotkey} at block {receipt.block}"
        )
    return 0
