"""The `throne` command: one entry point, one module per command group.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds its parser and
sets ``handler`` to a function ``(args) -> int`` returning the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from throne import __version__

COMMAND_MODULES: tuple[str, ...] = (
    # one per line, so that adding a command group is a one-line change
    "throne.cli.demo",
    "throne.cli.localnet",
    "throne.cli.commit",
    "throne.cli.weights",
    "throne.cli.chain",
    "throne.cli.audit",
)


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit code 1 unless given."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="throne",
        description=(
            "Validator of a winner-takes-all reasoning contest on Bittensor. "
            "Every fact is an event in one log; state, verdicts and weights are folds of it."
        ),
    )
    parser.add_argument("--version", action="version", version=f"throne {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except CommandError as exc:
        print(f"throne: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("throne: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
