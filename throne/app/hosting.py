"""Where the miners' models come from: the model hub that names their files, and the host
that serves them (``[hosting]``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from throne.ports.model_host import ModelHost
from throne.ports.model_hub import ModelHub

if TYPE_CHECKING:
    from throne.daemon.settings import Settings


def open_model_hub(settings: Settings, environ: Mapping[str, str] | None = None) -> ModelHub:
    """The configured model hub; ``auto`` asks Hugging Face only on a bittensor network."""
    from throne.adapters.hub.fixed import NoModelHub

    hub = settings.model_hub
    if hub.resolved_kind(settings.validator.chain) == "none":
        return NoModelHub()
    # Imported here: the hub's client costs a few tenths of a second, on the local chain for
    # nothing.
    from throne.adapters.hub import HuggingFaceHub

    env = os.environ if environ is None else environ
    return HuggingFaceHub(
        hub.resolved_endpoint(env),
        token=hub.resolved_token(env),
        timeout=hub.timeout_seconds,
        budget=hub.budget_seconds,
        retry_after_failure=hub.retry_after_failure_seconds,
        revision_grace=hub.revision_grace_seconds,
    )


@dataclass
class HostChoice:
    """The configured host, and the model cache its engines load from (None when the host
    downloads nothing itself)."""

    host: ModelHost
    pin: Any = None


def open_model_host(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> HostChoice | None:
    """The host ``[hosting]`` names; None for ``static`` (a gateway serves every model)."""
    h = settings.hosting
    if h.host == "static":
        return None
    env = os.environ if environ is None else environ
    data = Path(settings.validator.data_dir).expanduser() / "hosting"
    if h.host == "chutes":
        from throne.adapters.hosting.chutes import (
            ChutesEndpoints,
        )

        return HostChoice(
            ChutesEndpoints(
                h.chutes.api,
                api_key=env.get(h.chutes.key_env) or None,
                url_template=h.chutes.url_template,
            )
        )
    if h.host == "ssh":
        from throne.adapters.hosting.ssh_engine import (
            SshBox,
            SshEngineHost,
        )

        boxes = [
            SshBox(
                b.name,
                b.host,
                port=b.port,
                user=b.user,
                key_file=Path(b.key_file).expanduser() if b.key_file else None,
                slots=tuple(b.slots),
                known_hosts=Path(b.known_hosts).expanduser() if b.known_hosts else None,
            )
            for b in h.ssh.boxes
        ]
        return HostChoice(
            SshEngineHost(
                h.ssh.command,
                boxes=boxes,
                ports=range(*h.ssh.ports),
                served_model=h.ssh.served_model,
                ready_timeout=h.ready_timeout,
                state_dir=data / "ssh",
            )
        )
    from throne.adapters.hosting.local_engine import (
        LocalEngineHost,
    )
    from throne.adapters.hub.cache import ModelCache

    hub = settings.model_hub
    cache_dir = Path(h.cache.dir).expanduser() if h.cache.dir else data.parent / "models"
    cache = ModelCache(
        cache_dir,
        h.cache.max_bytes,
        endpoint=hub.resolved_endpoint(env),
        token=hub.resolved_token(env),
    )
    return HostChoice(
        LocalEngineHost(
            h.local.command,
            slots=tuple(h.local.slots),
            ports=range(*h.local.ports),
            served_model=h.local.served_model,
            ready_timeout=h.ready_timeout,
            state_dir=data / "local",
            log_dir=data / "logs",
            model_files=cache.fetch,
        ),
        pin=cache.pin,
    )
