"""What runs the envs' tasks: the env services (in-process or remote), the program sandbox,
and the client that asks the models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from throne.app.errors import StartupError

if TYPE_CHECKING:
    from throne.adapters.inference.client import AiohttpChatCompletions
    from throne.adapters.inference.policy import Deadlines, Limits, RetryPolicy
    from throne.daemon.env_settings import EnvServiceSettings
    from throne.daemon.settings import Settings
    from throne.envs.base import Environment
    from throne.envs.sandbox.client import ForkServerSandbox
    from throne.ports.chat_completions import ChatCompletions
    from throne.ports.env_service import EnvService


def open_environments() -> dict[str, Environment]:
    """The installed environments, sharing one process-wide sandbox (started on first use):
    what ``throne audit verify --rescore`` re-scores stored responses with."""
    from throne.envs.registry import environments

    return environments()


def open_env_services(
    settings: Settings, local: Mapping[str, Environment], chat: ChatCompletions
) -> dict[str, EnvService]:
    """The service that runs each configured env's tasks: over HTTP for an env with a ``url``
    (docs/envs.md), else in-process, asking the model through ``chat``. ``local``: throne's
    single-turn envs by name; its multi-turn ones come from the registry."""
    from throne.adapters.envs.in_process import InProcessEnv, InProcessEpisodes
    from throne.envs.registry import episodic_environments

    episodic = episodic_environments()
    services: dict[str, EnvService] = {}
    for env in settings.contest.envs:
        remote = settings.env_services.get(env.name)
        if remote is not None:
            services[env.name] = open_remote_env(env.name, remote, chat)
        elif env.name in local:
            services[env.name] = InProcessEnv(local[env.name], chat)
        elif env.name in episodic:
            services[env.name] = InProcessEpisodes(episodic[env.name], chat)
        else:
            raise StartupError(
                f"env {env.name!r} is neither installed nor given a url in [envs.{env.name}]"
            )
    return services


def open_remote_env(name: str, s: EnvServiceSettings, chat: ChatCompletions) -> EnvService:
    """An env served elsewhere, by the protocol of docs/envs.md."""
    from throne.adapters.envs.remote import RemoteEnv, RemoteEpisodes
    from throne.adapters.envs.transport import EnvProtocolClient

    client = EnvProtocolClient(
        list(s.urls),
        load_balance=s.load_balance,
        concurrency=s.concurrency,
        retries=s.retries,
    )
    if s.interface == "interactive":
        return RemoteEpisodes(name, client, chat, max_turns=s.max_turns, score_range=s.score_range)
    return RemoteEnv(name, client, score_range=s.score_range, eval_params=s.eval_params)


def open_eval_service(
    name: str,
    env_url: str | None,
    chat: ChatCompletions,
    *,
    interface: str = "evaluate",
    max_turns: int | None = None,
    score_range: tuple[float, float] = (0.0, 1.0),
    eval_params: Mapping[str, object] | None = None,
    concurrency: int = 8,
) -> EnvService:
    """The env ``throne eval`` and the SDK run tasks on: the service at ``env_url``, or
    throne's own env ``name`` in-process. Raises ValueError for a bad url or interface, and
    KeyError for an env that is not installed."""
    from throne.adapters.envs.in_process import InProcessEnv, InProcessEpisodes
    from throne.daemon.env_settings import split_service
    from throne.envs.registry import environments, episodic_environments

    if env_url is not None:
        table = {
            "url": env_url,
            "interface": interface,
            "max_turns": max_turns or 30,
            "score_range": list(score_range),
            "eval_params": dict(eval_params or {}),
            "concurrency": concurrency,
        }
        _, remote = split_service(table, "--env-url")
        assert remote is not None
        return open_remote_env(name, remote, chat)
    local = environments()
    if name in local:
        return InProcessEnv(local[name], chat)
    episodic = episodic_environments()
    if name in episodic:
        return InProcessEpisodes(episodic[name], chat, max_turns=max_turns)
    raise KeyError(name)


def open_chat_client(
    *,
    deadlines: Deadlines,
    retry: RetryPolicy,
    limits: Limits | None = None,
    trust_env: bool = False,
) -> AiohttpChatCompletions:
    """The client that asks models for chat completions (the daemon's, and ``throne eval``'s);
    with ``trust_env`` it goes through the environment's HTTP(S) proxy."""
    from throne.adapters.inference.client import AiohttpChatCompletions

    return AiohttpChatCompletions(
        deadlines=deadlines, retry=retry, limits=limits, trust_env=trust_env
    )


def open_sandbox(hidden_paths: list[str] | None = None) -> ForkServerSandbox:
    """The program sandbox (its server starts on first use); ``hidden_paths`` are covered from
    programs (default: the home directories and the working directory)."""
    from throne.envs.sandbox.client import ForkServerSandbox

    return ForkServerSandbox(hidden_paths=hidden_paths)
