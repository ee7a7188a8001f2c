"""The copy rule's hash on a model-info file list, malformed entries included."""

import hashlib

from throne.adapters.hub import model_hash

A, B = "a" * 64, "0123456789abcdef" * 4


def test_the_hash_joins_the_sorted_digests_of_lfs_weight_files() -> None:
    siblings = [
        {"rfilename": "z.safetensors", "lfs": {"sha256": A}},
        {"rfilename": "sub/dir/a.bin", "lfs": {"sha256": B}},
    ]
    assert model_hash(siblings) == hashlib.sha256((B + A).encode()).hexdigest()


def test_entries_of_the_wrong_shape_are_skipped_not_trusted() -> None:
    good = {"rfilename": "m.safetensors", "lfs": {"sha256": A}}
    odd = [
        "m.safetensors",
        {"rfilename": 7, "lfs": {"sha256": B}},
        {"rfilename": "n.safetensors", "lfs": "yes"},
        {"rfilename": "n.safetensors", "lfs": {"oid": B}},
        {"rfilename": "n.safetensors", "lfs": {"sha256": "not hex"}},
        {"rfilename": "n.safetensors", "lfs": {"sha256": 12345}},
        {"rfilename": "n.SAFETENSORS", "lfs": {"sha256": B}},
    ]
    assert model_hash([good, *odd]) == model_hash([good])
    assert model_hash(odd) is None
    assert model_hash([]) is None
