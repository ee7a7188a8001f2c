"""The copy rule's hash on a model info's file list, odd values included."""

import hashlib
from typing import Any

from huggingface_hub.hf_api import BlobLfsInfo, RepoSibling

from throne.adapters.hub import model_hash

A, B = "a" * 64, "0123456789abcdef" * 4


def lfs(name: Any, sha256: Any) -> RepoSibling:
    return RepoSibling(rfilename=name, lfs=BlobLfsInfo(size=1, sha256=sha256, pointer_size=134))


def test_the_hash_joins_the_sorted_digests_of_lfs_weight_files() -> None:
    siblings = [lfs("z.safetensors", A), lfs("sub/dir/a.bin", B)]
    assert model_hash(siblings) == hashlib.sha256((B + A).encode()).hexdigest()


def test_the_hash_of_a_known_listing_is_the_one_it_always_was() -> None:
    # The value the rule gave before the hub client changed: any change to the rule shows here.
    siblings = [lfs("model-00002.safetensors", B), lfs("model-00001.safetensors", A)]
    assert model_hash(siblings) == (
        "69d82e8e1b75e0a8c8f3a75cb8a2529a6b459e475fc28dbb1c43df3a878174bb"
    )


def test_values_of_the_wrong_type_or_shape_are_skipped_not_trusted() -> None:
    good = lfs("m.safetensors", A)
    odd = [
        lfs(7, B),
        RepoSibling(rfilename="n.safetensors"),  # kept in git: no LFS digest
        lfs("n.safetensors", "not hex"),
        lfs("n.safetensors", 12345),
        lfs("n.safetensors", None),
        lfs("n.SAFETENSORS", B),
        lfs("n.gguf", B),
    ]
    assert model_hash([good, *odd]) == model_hash([good])
    assert model_hash(odd) is None
    assert model_hash([]) is None
