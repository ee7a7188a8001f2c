"""`throne env serve`: one of throne's environments as a service, over the environment protocol.

What a validator that runs environments as services (the reference's way, or throne's remote
envs) needs to use throne's own: the server is `throne.adapters.envs.server`; this command
picks the env, opens what it needs (the program sandbox, the inference client) from the
composition root, serves until SIGTERM or SIGINT and closes them.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from throne.cli.main import CommandError

#: Usage mistakes exit with argparse's code for them.
USAGE_ERROR = 2
#: The longest a model call may take whatever ``timeout`` a call names (a day: no real bound
#: is longer; each call's own timeout is the one that acts).
MAX_CALL_SECONDS = 86_400.0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "env",
        help="serve one of throne's environments over the environment protocol",
        description="`throne env serve --env NAME` serves one environment as an HTTP service "
        "that speaks the reference's environment protocol.",
    )
    env_sub = p.add_subparsers(dest="env_command", metavar="SUBCOMMAND", required=True)
    serve = env_sub.add_parser(
        "serve",
        help="serve one environment on HOST:PORT until SIGTERM or SIGINT",
        description=(
            "Serve one environment over HTTP: GET /health, GET /methods, and POST /call with "
            '{"method", "args", "kwargs"} answering {"status", "result", "error"}. SAT, ABD and '
            "DED offer evaluate(task_id, seed, model, base_url, ...) and ask the model at "
            "base_url themselves; GUESS offers reset, step, state and stop, and the caller "
            "drives the model."
        ),
        epilog="Prints the URL it listens on once ready. SIGTERM stops it with exit code 0.",
    )
    serve.add_argument("--env", required=True, metavar="NAME", help="SAT, ABD, DED or GUESS")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default 8000; 0: any free)"
    )
    serve.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        help="evaluations run at once (default 8); more calls wait their turn",
    )
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from throne.app import open_chat_client, open_sandbox
    from throne.envs.registry import environments, episodic_environments
    from throne.miners.server import bind, serve_until_signalled

    episodic = episodic_environments()
    known = sorted({*environments(), *episodic})
    if args.env not in known:
        message = f"unknown environment {args.env!r} (known: {', '.join(known)})"
        raise CommandError(message, USAGE_ERROR)
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port must be within [0, 65535], got {args.port}", USAGE_ERROR)
    if args.concurrency < 1:
        raise CommandError(f"--concurrency must be at least 1, got {args.concurrency}", USAGE_ERROR)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None

    from throne.adapters.envs.server import env_app
    from throne.adapters.inference.policy import Deadlines, Limits, RetryPolicy

    sandbox = None
    try:
        if args.env in episodic:
            app = env_app(episodic[args.env])
        else:
            # The sandbox starts on first use: SAT never starts it.
            sandbox = open_sandbox()
            client = open_chat_client(
                # Each call is bounded by its own timeout; these only cap what one may ask.
                deadlines=Deadlines(read=MAX_CALL_SECONDS, total=MAX_CALL_SECONDS),
                retry=RetryPolicy(),
                limits=Limits(per_endpoint=args.concurrency, overall=args.concurrency),
            )
            env = environments(sandbox)[args.env]
            app = env_app(env, client=client, concurrency=args.concurrency)
        host, port = sock.getsockname()[:2]
        print(f"serving {args.env} at http://{host}:{port}", flush=True)
        received = serve_until_signalled(app, sock, lifespan=True)
    finally:
        sock.close()
        if sandbox is not None:
            sandbox.close()
    print("stopped", file=sys.stderr)
    if received == signal.SIGINT:
        raise KeyboardInterrupt
    return 0
