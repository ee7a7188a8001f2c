"""The `throne` command: one entry point, one module per command group.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds its parser and
sets ``handler`` to a function ``(args) -> int`` returning the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from throne import __version__
from throne.cli.errors import one_line, user_error_line

COMMAND_MODULES: tuple[str, ...] = (
    # one per line, so that adding a command group is a one-line change
    "throne.cli.demo",
    "throne.cli.localnet",
    "throne.cli.commit",
    "throne.cli.weights",
    "throne.cli.chain",
    "throne.cli.eval",
    "throne.cli.miner",
    "throne.cli.env",
    "throne.cli.audit",
    "throne.cli.publish",
    "throne.cli.run",
    "throne.cli.signer",
    "throne.cli.check",
    "throne.cli.db",
    "throne.cli.admin",
    "throne.cli.rank",
    "throne.cli.history",
    "throne.cli.dashboard",
    "throne.cli.pull",
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


# `throne miner HOTKEY|UID` reads as `throne miner show HOTKEY|UID`.
_MINER_SUBCOMMANDS = {"serve", "show", "-h", "--help"}


def _expand_shorthands(argv: list[str]) -> list[str]:
    if len(argv) >= 2 and argv[0] == "miner" and argv[1] not in _MINER_SUBCOMMANDS:
        return ["miner", "show", *argv[1:]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] in (["run"], ["worker"]):
        from throne.cli import early_stop

        early_stop.arm()
    parser = build_parser()
    args = parser.parse_args(_expand_shorthands(words))
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except CommandError as exc:
        print(f"throne: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("throne: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`throne rank | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:  # last: the clauses above come first
        # Only the failures a user can fix become one line; anything else is a bug, and its
        # traceback is what a report needs.
        line = user_error_line(exc, args)
        if line is None:
            raise
        print(f"throne: error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # `python -m throne.cli.main` runs this file as `__main__`; the commands raise the
    # CommandError of `throne.cli.main`, so run that module's main, not this copy's.
    from throne.cli.main import main as _main

    raise SystemExit(_main())
