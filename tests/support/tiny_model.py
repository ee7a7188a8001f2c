"""A tiny Llama in Hugging Face format, made offline: random weights, a real tokenizer and a
chat template, so a real engine (``transformers serve``) can load and serve it on a CPU in
seconds. Its answers are noise; the API, the token counts and the engine's life are real."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

# A chat template in the shape engines expect: every message, then the assistant's turn.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
_CORPUS = [
    "What is 2 + 2? The answer is 4.",
    "Solve the puzzle and write the answer in a box.",
    "The quick brown fox jumps over the lazy dog.",
    "A validator serves the model it judges.",
]
_SPECIAL = ["<|end|>", "<|user|>", "<|assistant|>", "<|system|>", "<unk>", "<s>", "</s>"]


def transformers_cli() -> str:
    """The ``transformers`` command of the interpreter running the tests. Without the engine
    extra the test is skipped on a developer machine, and fails under CI, where a missing
    engine is a broken build rather than a reason to skip."""
    if importlib.util.find_spec("transformers") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("the engine extra is missing: `make test` installs it (CI never skips)")
        pytest.skip("the engine extra is not installed: run `make test` or `make engine`")
    cli = Path(sys.executable).with_name("transformers")
    return str(cli) if cli.exists() else (shutil.which("transformers") or "transformers")


def folder_files(directory: Path) -> dict[str, bytes]:
    """Every file of a model folder by its relative path: what a Hub repo of it holds."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def write_tiny_model(directory: Path, seed: int | None = None) -> Path:
    """Write the model into ``directory`` (made if missing) and return it; about 200 kB.
    ``seed`` fixes its random weights: two seeds give two models with different files (two
    miners' repos with different hashes), one seed the same files every time."""
    # Imported here: only the engine tests need torch and transformers (the `engine` extra).
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=_SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(_CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="<|end|>",
        unk_token="<unk>",
        pad_token="</s>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        # Room for the longest prompt of the envs (SAT: about 9,600 tokens of this tokenizer),
        # an engine refuses a prompt longer than the model takes (transformers 5.25 on).
        max_position_embeddings=32768,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if seed is not None:
        torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(directory, safe_serialization=True)
    return directory
