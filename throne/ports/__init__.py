"""Ports: the interfaces between throne and the world outside it, one small module each.

Each port, its adapters, and the contract test that every one of them passes:

- `Chain`: `LocalChain`, `BittensorChain`, `SignerChain` (either of them for reads, weights
  through ``throne signer``), and `NoChain`, a worker's, which refuses every call;
  ``tests/integration/chain/test_chain_contract.py``.
- `ModelHub`: `HuggingFaceHub`, `StaticModelHub`, `NoModelHub`;
  ``tests/integration/hub/test_model_hub_contract.py``.
- `ModelEndpoints`: `StaticModelEndpoints`; and `ChatCompletions`: `AiohttpChatCompletions`;
  ``tests/integration/inference/test_inference_ports_contract.py``.
- `EnvService`: `InProcessEnv`, `InProcessEpisodes`, `RemoteEnv`, `RemoteEpisodes`;
  ``tests/integration/envs/test_env_service_contract.py``.
- `ResponseStore`: `SqlResponseStore` (SQLite, PostgreSQL), `InMemoryResponseStore`;
  ``tests/integration/storage/test_response_store_contract.py``.
- `WorkClaims`: `SqlWorkClaims` (SQLite, PostgreSQL);
  ``tests/integration/storage/test_work_claims.py``.
- `RoleLock`: `SqliteRoleLock`, `PostgresRoleLock`;
  ``tests/integration/storage/test_role_lock_contract.py``.
- `Signer`: bittensor's ``Keypair``, however `throne.audit.signing` obtains it;
  ``tests/integration/audit/test_signer_contract.py``; `SignerClient` (the key a ``throne
  signer`` holds), ``tests/integration/signer/test_signer_service.py``.
- `Sandbox`: `ForkServerSandbox`; ``tests/integration/envs/test_sandbox_contract.py``.
- `ObjectStore`: `S3ObjectStore` (with conditional writes, and without where the store refuses
  them); ``tests/integration/audit/test_object_store_contract.py``. Its reader side,
  `ObjectReader`, is `S3ObjectStore` or `HttpObjectReader` (a published log's public URL).

Each module holds the port, the records its methods take and return, and the errors a caller
is expected to handle; it imports nothing but the standard library, the domain and other
ports. Only the composition root (`throne.app`) builds the adapters.

Every port is a ``typing.Protocol``, never an ABC: a port says what its user needs, and
anything of that shape fits it, including what this project does not own (bittensor's
``Keypair`` is a `Signer` as it is, with no wrapper to inherit from us) and a test's stand-in,
which need not import the port. The adapters this project owns still name their port as a
base class, so that mypy checks each of them where it is defined, and they inherit a default
such as `Chain.close`.

Not ports, and left where they are: `Environment` (``throne/envs/base.py``) is the
environments' base class, with behaviour they share, and the environments are the contest's
own code, reaching outside only through `Sandbox`; `Projection` is the read side's base
class; and the Protocols that type one module's seam rather than the world outside:
``RunMeter`` (the sandbox supervisor's two meters), ``Health`` and ``MetricsText`` (the status
API's sources, or their relay from the daemon), ``ChangeWaiter`` (how the projection runner
learns the log grew), and ``StoredNotification`` and ``NotificationSource`` (what the audit
export reads of eventsourcing's records).
"""
