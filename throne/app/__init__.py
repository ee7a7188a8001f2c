"""Composition root: the one place that knows the concrete adapters.

`build` (:mod:`throne.app.daemon`) assembles what ``throne run`` and ``throne worker`` run,
from the settings and, optionally, adapters to use instead of the configured ones (tests and
the demo pass local chains, local miners and a static model hub). The other commands ask the
modules beside it for a chain (:mod:`~throne.app.chain`, the signer's too), a log
(:mod:`~throne.app.log`), an env service, a sandbox or a model client
(:mod:`~throne.app.envs`), a model host (:mod:`~throne.app.hosting`) or a bucket
(:mod:`~throne.app.publish`), and build none themselves.

At the top of these modules only ports are imported; each function imports the adapters and
parts it builds. A command that only reads the chain must not pay for importing the daemon
(aiohttp, SQLAlchemy, the status server: about a second).
"""

from throne.app.chain import (
    CHAIN_WRITE_SECONDS,
    ChainChoice,
    bittensor_settings,
    connect_chain,
    create_local_chain,
    open_chain,
    open_chain_through_signer,
    open_local_chain,
    open_signer_client,
    open_signer_holding,
)
from throne.app.daemon import Services, build
from throne.app.envs import (
    open_chat_client,
    open_env_services,
    open_environments,
    open_eval_service,
    open_remote_env,
    open_sandbox,
)
from throne.app.errors import StartupError
from throne.app.hosting import HostChoice, open_model_host, open_model_hub
from throne.app.log import (
    creates_log_directory,
    deployed_hotkeys,
    init_log,
    log_schema_version,
    open_application,
    open_log,
    open_operator,
    open_reader,
    open_reads,
)
from throne.app.publish import open_object_store, open_publish_loop, open_published_log

__all__ = [
    "CHAIN_WRITE_SECONDS",
    "ChainChoice",
    "HostChoice",
    "Services",
    "StartupError",
    "bittensor_settings",
    "build",
    "connect_chain",
    "create_local_chain",
    "creates_log_directory",
    "deployed_hotkeys",
    "init_log",
    "log_schema_version",
    "open_application",
    "open_chain",
    "open_chain_through_signer",
    "open_chat_client",
    "open_env_services",
    "open_environments",
    "open_eval_service",
    "open_local_chain",
    "open_log",
    "open_model_host",
    "open_model_hub",
    "open_object_store",
    "open_operator",
    "open_publish_loop",
    "open_published_log",
    "open_reader",
    "open_reads",
    "open_remote_env",
    "open_sandbox",
    "open_signer_client",
    "open_signer_holding",
]
