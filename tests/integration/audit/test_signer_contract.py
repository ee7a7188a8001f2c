"""The `Signer` contract: every way to get a signing key gives one whose signatures verify
against its address, and only against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from throne.audit.signing import (
    keypair_from_text,
    load_keypair,
    load_or_create_local_keypair,
    signature_is_valid,
)
from throne.ports.signer import Signer

SEED = "0x" + "4a" * 32
DEV_PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"
MESSAGE = b"checkpoint 7: head 9f2c"


@pytest.fixture(params=["hex seed", "uri", "mnemonic", "key file", "local key"])
def signer(request: pytest.FixtureRequest, tmp_path: Path) -> Signer:
    kind = request.param
    if kind == "hex seed":
        return keypair_from_text(SEED)
    if kind == "uri":
        return keypair_from_text("//Alice")
    if kind == "mnemonic":
        return keypair_from_text(DEV_PHRASE)
    if kind == "key file":
        path = tmp_path / "key"
        path.write_text(SEED + "\n")
        return load_keypair(path)
    return load_or_create_local_keypair(tmp_path / "data" / "audit-signing-key")


def test_a_signature_verifies_against_the_signers_address(signer: Signer) -> None:
    assert signature_is_valid(MESSAGE, signer.sign(MESSAGE), signer.ss58_address)


def test_a_signature_does_not_verify_another_message(signer: Signer) -> None:
    assert not signature_is_valid(MESSAGE + b".", signer.sign(MESSAGE), signer.ss58_address)


def test_a_signature_does_not_verify_against_another_address(signer: Signer) -> None:
    other = keypair_from_text("//Mallory")
    assert other.ss58_address != signer.ss58_address
    assert not signature_is_valid(MESSAGE, signer.sign(MESSAGE), other.ss58_address)


def test_the_address_is_an_ss58_address_of_the_generic_substrate_format(signer: Signer) -> None:
    assert signer.ss58_address.startswith("5") and len(signer.ss58_address) == 48


def test_a_seed_names_one_key_however_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(SEED + "\n")
    assert keypair_from_text(SEED).ss58_address == load_keypair(path).ss58_address


def test_the_local_key_is_created_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / "audit-signing-key"
    first = load_or_create_local_keypair(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_local_keypair(path).ss58_address == first.ss58_address
