"""Deterministic aggregate ids: the same subnet, pool and miner always map to the same stream."""

from uuid import UUID

NAMESPACE = UUID("5f0b7a8e-2d4c-4c1e-9a57-7468726f6e65")
