"""The model hub: where committed models' hashes come from, for the copy rule."""

from throne.adapters.hub.huggingface import DEFAULT_ENDPOINT, HuggingFaceHub
from throne.adapters.hub.model_hash import model_hash

__all__ = ["DEFAULT_ENDPOINT", "HuggingFaceHub", "model_hash"]
