"""The copy rule's model hash, computed from what the hub says about one commit's files.

``sha256("".join(sorted(sha256 of every LFS *.safetensors and *.bin file)))``, hex: two repos
holding the same weight files hash alike, whatever their names, configs or READMEs. Files kept
in git itself (not LFS) carry no content hash in the listing and are left out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from huggingface_hub.hf_api import RepoSibling

WEIGHT_SUFFIXES = (".safetensors", ".bin")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def weight_file_digests(siblings: Iterable[RepoSibling]) -> list[str]:
    """The LFS sha256 of every weight file in a model info's ``siblings``.

    The library copies the hub's values into these records unchecked: a name or digest of the
    wrong type or shape is skipped rather than trusted.
    """
    digests = []
    for sibling in siblings:
        name: object = sibling.rfilename
        if not isinstance(name, str) or not name.endswith(WEIGHT_SUFFIXES):
            continue
        digest: object = None if sibling.lfs is None else sibling.lfs.sha256
        if isinstance(digest, str) and _SHA256.fullmatch(digest):
            digests.append(digest)
    return digests


def model_hash(siblings: Iterable[RepoSibling]) -> str | None:
    """The model hash of a commit's files, or None when it holds no LFS weight file."""
    digests = weight_file_digests(siblings)
    if not digests:
        return None
    return hashlib.sha256("".join(sorted(digests)).encode("ascii")).hexdigest()
