"""Ready-made engine templates for `LocalEngineHost` (and the SSH host): SGLang, vLLM and
``transformers serve``, each with the name the engine serves the model under.

Two kinds: the engine downloads the committed revision itself (``SGLANG``, ``VLLM``: the
reference's way, with the Hub's cache in ``HF_HOME``), or it serves the folder throne's model
cache has fetched (``*_FROM_CACHE``: ``{model_dir}``, so the cache's bounds and pins apply).
Every one serves the model under its committed name except ``transformers serve``, which
serves a folder under its path.

The SGLang and vLLM templates pass ``--trust-remote-code`` as the reference does: a miner's
repository may then run its own code on the host, so run engines as a user that holds no
secrets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineTemplate:
    """A command template and the served model name it yields (both templates)."""

    command: str
    served_model: str = "{model}"


# SGLang as the reference runs it (data parallel over the slot's GPUs).
SGLANG = EngineTemplate(
    "python -m sglang.launch_server --model-path {model} --revision {revision}"
    " --served-model-name {model} --host {host} --port {port} --dp {gpu_count}"
    " --load-balance-method total_tokens --trust-remote-code"
    " --mem-fraction-static 0.85 --chunked-prefill-size 4096"
)
SGLANG_FROM_CACHE = EngineTemplate(
    "python -m sglang.launch_server --model-path {model_dir} --served-model-name {model}"
    " --host {host} --port {port} --dp {gpu_count} --load-balance-method total_tokens"
    " --trust-remote-code --mem-fraction-static 0.85 --chunked-prefill-size 4096"
)
# vLLM's OpenAI-compatible server, one replica per GPU of the slot.
VLLM = EngineTemplate(
    "vllm serve {model} --revision {revision} --served-model-name {model}"
    " --host {host} --port {port} --data-parallel-size {gpu_count}"
    " --trust-remote-code --gpu-memory-utilization 0.85"
)
VLLM_FROM_CACHE = EngineTemplate(
    "vllm serve {model_dir} --served-model-name {model}"
    " --host {host} --port {port} --data-parallel-size {gpu_count}"
    " --trust-remote-code --gpu-memory-utilization 0.85"
)
# transformers' own server: slow, but it runs on a CPU (the tests' real engine). It takes no
# revision, so it serves the cache's folder, under that folder's path.
TRANSFORMERS = EngineTemplate(
    "transformers serve {model_dir} --host {host} --port {port}", served_model="{model_dir}"
)

TEMPLATES: dict[str, EngineTemplate] = {
    "sglang": SGLANG,
    "sglang_from_cache": SGLANG_FROM_CACHE,
    "vllm": VLLM,
    "vllm_from_cache": VLLM_FROM_CACHE,
    "transformers": TRANSFORMERS,
}
