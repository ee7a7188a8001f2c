"""A tiny Llama in Hugging Face format, made offline: random weights, a real tokenizer and a
chat template, so a real engine (``transformers serve``) can load and serve it on a CPU in
seconds. Its answers are noise; the API, the token counts and the engine's life are real."""

from __future__ import annotations

from pathlib import Path

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


def write_tiny_model(directory: Path) -> Path:
    """Write the model into ``directory`` (made if missing) and return it; about 200 kB."""
    # Imported here: only the engine tests need torch and transformers (the `engine` extra).
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
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(directory, safe_serialization=True)
    return directory
