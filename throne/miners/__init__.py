"""Local miners: OpenAI-compatible servers that answer throne's environment prompts.

They stand in for real models in the demo and in end-to-end tests: each miner answers a task
correctly with probability ``skill``, decided by a hash of (name, revision, env, task id), so a
run is reproducible, and can inject faults (latency, 500/429, hangs, malformed or deeply
nested bodies).
"""

from throne.miners.asgi import MinerStats, miner_app
from throne.miners.profile import PROFILE_FILE, Faults, MinerProfile, NoMinerProfile
from throne.miners.server import BackgroundServer, MinerServer

__all__ = [
    "PROFILE_FILE",
    "BackgroundServer",
    "Faults",
    "MinerProfile",
    "MinerServer",
    "MinerStats",
    "NoMinerProfile",
    "miner_app",
]
