"""A small validator world for daemon tests: a local chain, local miners, a settings file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.contest import read_standings
from throne.adapters.chain.local import LocalChain
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.daemon.settings import settings_from_dict
from throne.domain.contest.config import ContestConfig
from throne.domain.contest.contest import Contest
from throne.domain.contest.scorecard import Scorecard
from throne.envs.registry import environments, episodic_environments
from throne.miners import MinerProfile

NETUID = 120
SKILLS = {"ant": 0.3, "bee": 0.75, "cat": 0.5, "dog": 0.95}


def hotkey(name: str) -> str:
    return f"5Test{name.capitalize()}"


def model(name: str) -> str:
    return f"test/affine-{name}-{hotkey(name)}"


def profiles() -> list[MinerProfile]:
    return [MinerProfile(name, revision="r1", skill=s) for name, s in SKILLS.items()]


@dataclass
class World:
    root: Path
    config: Path
    db_url: str

    def settings_dict(self) -> dict[str, Any]:
        return json.loads((self.root / "settings.json").read_text())

    def app(self) -> ThroneApplication:
        raw = self.settings_dict()
        ranges = {n: e.id_range for n, e in environments().items()}
        optional = {n: e.id_range for n, e in episodic_environments().items()}
        settings = settings_from_dict(raw, ranges, optional=optional)
        db = parse_database_url(self.db_url)
        return ThroneApplication(settings.contest, env=db.eventsourcing_env())


def make_world(
    root: Path,
    miners_url: str,
    secret: bytes,
    db_url: str | None = None,
    names: Sequence[str] = tuple(SKILLS),
    revisions: Mapping[str, str] | None = None,
    extras: Mapping[str, Mapping[str, object]] | None = None,
    block_time: float = 0.1,
    env_tables: Mapping[str, Mapping[str, object]] | None = None,
    envs: Sequence[str] | None = None,
    validator: Mapping[str, object] | None = None,
) -> World:
    """A world whose miners ``names`` commit in this order, served at ``miners_url``; each
    commits its revision in ``revisions`` (a Hub commit sha), or ``r1``; ``extras``: the keys a
    miner's commitment holds beside its model and revision; ``block_time``: seconds per block
    of the local chain once the commitments are in; ``env_tables``: keys added to an env's
    table (an env service's ``url``, say); ``envs``: the envs of the contest (default: the
    installed single-turn ones); ``validator``: keys of ``[validator]`` beside (or instead of)
    the world's."""
    root.mkdir(parents=True, exist_ok=True)
    chain_db = root / "chain.db"
    chain = LocalChain.init(chain_db, netuid=NETUID, block_time=block_time, weights_rate_limit=5)
    chain.register(NETUID, "validator")
    for i, name in enumerate(names):
        chain.register(NETUID, hotkey(name))
        chain.as_signer(hotkey(name)).commit(
            NETUID,
            json.dumps(
                {
                    "model": model(name),
                    "revision": (revisions or {}).get(name, "r1"),
                    **(extras or {}).get(name, {}),
                }
            ),
        )
        chain.advance(2 + i)
    (root / "secret").write_bytes(secret)
    db_url = db_url or f"sqlite:///{root / 'throne.db'}"
    raw = {
        "validator": {
            "db": db_url,
            "chain_db": str(chain_db),
            "hotkey": "validator",
            "data_dir": str(root / "data"),
            "pool_secret_file": str(root / "secret"),
            "poll_seconds": 0.05,
            "weights_interval_blocks": 20,
            **(validator or {}),
        },
        "contest": {"refresh_blocks": 1_000_000, "battle_deadline_blocks": 100_000},
        "envs": {
            name: {"sampling_count": 6, **(env_tables or {}).get(name, {})}
            for name in (envs or list(environments()))
        },
        "sampler": {"concurrency": 8, "batch_size": 4, "retries": 0},
        "inference": {"routes": {model(n): {"base_url": miners_url, "model": n} for n in names}},
    }
    (root / "settings.json").write_text(json.dumps(raw))
    config = root / "throne.toml"
    config.write_text(_toml(raw))
    return World(root, config, db_url)


def _toml(raw: dict[str, Any]) -> str:
    lines: list[str] = []

    def table(prefix: str, values: dict[str, Any]) -> None:
        scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
        if scalars:
            lines.append(f"[{prefix}]")
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in scalars.items())
        for k, v in values.items():
            if isinstance(v, dict):
                table(f"{prefix}.{json.dumps(k) if '/' in k else k}", v)

    for section, values in raw.items():
        table(section, values)
    return "\n".join(lines) + "\n"


def start_daemon(world: World, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "throne.cli.main", "run", "--config", str(world.config)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=world.root,
    )


def settled(world: World) -> bool:
    """Every miner has had its battle: a champion, nobody queued, no battle running."""
    try:
        with world.app() as app:
            std = read_standings(app)
    except Exception:
        return False
    return std["champion"] is not None and std["battle"] is None and not std["queue"]


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=timeout)


def samples_recorded(db_url: str) -> int:
    """How many samples the log at ``db_url`` holds."""
    app = ThroneApplication(ContestConfig(), env=parse_database_url(db_url).eventsourcing_env())
    try:
        topics = [Scorecard.SampleScored.TOPIC]
        return len(app.recorder.select_notifications(1, 1_000_000, topics=topics))
    finally:
        app.close()


def decisions(app: ThroneApplication) -> list[tuple[str, str, str]]:
    """Each battle's end: (kind, challenger, reason or verdict reason)."""
    out = []
    for e in app.events.get(app.contest_id):
        if isinstance(e, Contest.Dethroned):
            out.append(("dethroned", e.new_champion.hotkey, e.verdict.reason))
        elif isinstance(e, Contest.Terminated) and not e.reason.startswith("dethroned_by:"):
            out.append(("terminated", e.hotkey, e.reason.split(":")[0]))
    return out
