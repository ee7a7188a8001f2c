"""`throne demo`: the whole contest on the embedded default."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run the whole contest locally (SQLite log, local chain, local miners)",
        description="Run the whole contest locally on the embedded default.",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(
        "throne demo: not built yet. The contest domain and its tests exist; "
        "the daemon, local chain and local miners that the demo drives are still to come."
    )
    return 0
