"""`throne signer` as a validator runs it, in a process of its own on a unix socket over the
local chain: the token guards every path, only audit messages are signed, only sound vectors
on its own subnet are submitted, and every request is one log line that holds no token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.played import played_database
from tests.support.ports import free_port
from tests.support.signer import SignerProcess, write_token
from throne.adapters.chain.local import LocalChain
from throne.adapters.signer.chain import SignerChain
from throne.adapters.signer.client import SignerClient
from throne.audit.format import checkpoint_message, end_message
from throne.audit.log_export import export_database
from throne.audit.signing import keypair_from_text, signature_is_valid
from throne.audit.sources import ExportFile
from throne.audit.verification import verify
from throne.ports.chain import ChainRefused
from throne.ports.signer import SignerRefused

NETUID = 120
KEY = "0x" + "5e" * 32
HEAD = "9f" * 32


@dataclass
class Running:
    chain: LocalChain
    signer: SignerProcess
    token: str
    socket: Path

    def http(self, token: str | None = "the token") -> httpx.Client:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {self.token if token == 'the token' else token}"
        return httpx.Client(
            base_url="http://signer",
            transport=httpx.HTTPTransport(uds=str(self.socket)),
            headers=headers,
            timeout=30,
        )

    def client(self) -> SignerClient:
        return SignerClient(self.signer.url, self.token, timeout=30)

    def row(self) -> tuple[tuple[int, int], ...]:
        return self.chain.onchain_weights(NETUID, 0).weights


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("signer")
    chain = LocalChain.init(root / "chain.db", netuid=NETUID, clock_mode="manual", start_block=1)
    for hotkey in ("validator", "m1", "m2", "m3"):
        chain.register(NETUID, hotkey)
    chain.advance(200)
    (root / "key").write_text(KEY + "\n")
    token = write_token(root / "token")
    sock = root / "signer.sock"
    args = ["--token-file", "token", "--socket", str(sock), "--chain-db", "chain.db"]
    with SignerProcess(
        [*args, "--key", "key"], cwd=root, log=root / "signer.log", socket_path=sock
    ) as signer:
        yield Running(chain, signer, token, sock)


@pytest.mark.parametrize("token", [None, "not-the-token-at-all-0123456789"])
def test_a_request_without_the_token_or_with_a_wrong_one_is_refused(
    running: Running, token: str | None
) -> None:
    before = running.row()
    message = checkpoint_message(1000, 1000, HEAD, 1).hex()
    weights = {"netuid": NETUID, "uids": [1], "weights": [65535], "version_key": 0}
    with running.http(token) as http:
        answers = [
            http.get("/healthz"),
            http.post("/sign", json={"message": message}),
            http.post("/set_weights", json=weights),
        ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert all(a.json()["refused"] == "unauthorized" for a in answers)
    assert running.row() == before


def test_health_names_the_hotkey_and_the_checkpoint_key_and_no_secret(running: Running) -> None:
    with running.http() as http:
        answer = http.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {
        "ok": True,
        "hotkey": "validator",
        "checkpoint_signer": keypair_from_text(KEY).ss58_address,
        "key_loaded": True,
        "netuid": NETUID,
        "chain": "local",
    }
    assert running.token not in answer.text and KEY[2:] not in answer.text


@pytest.mark.parametrize(
    "message",
    [
        checkpoint_message(1000, 1042, HEAD, 1),
        end_message(3, 2500, 2511, HEAD, 77),
        end_message(3, 2500, 2511, HEAD, None),
    ],
)
def test_an_audit_checkpoint_or_end_record_is_signed_by_the_key(
    running: Running, message: bytes
) -> None:
    with running.http() as http:
        answer = http.post("/sign", json={"message": message.hex()})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["signer"] == keypair_from_text(KEY).ss58_address
    assert signature_is_valid(message, bytes.fromhex(body["signature"]), body["signer"])


@pytest.mark.parametrize(
    "message",
    [
        b"hello",
        checkpoint_message(1000, 1042, HEAD),  # format 1's: never written any more
        checkpoint_message(1000, 1042, HEAD, 1) + b"\n",
        checkpoint_message(1000, 1042, HEAD, 1).replace(b" 1:", b" 01:"),
        checkpoint_message(1000, 1042, HEAD.upper(), 1),
        bytes.fromhex("0700" + "ab" * 40),  # what a call payload looks like
        b"throne-audit/3 checkpoint 1:1000:1042:" + HEAD.encode() + b" and more",
    ],
)
def test_anything_but_an_audit_message_is_refused_as_not_a_checkpoint(
    running: Running, message: bytes
) -> None:
    with running.http() as http:
        answer = http.post("/sign", json={"message": message.hex()})
    assert (answer.status_code, answer.json()["refused"]) == (400, "not_a_checkpoint")
    assert "signature" not in answer.json()


def test_the_client_signs_through_the_signer_and_an_export_so_signed_verifies(
    running: Running, tmp_path: Path
) -> None:
    db = played_database(tmp_path / "log.db")
    out = tmp_path / "audit.jsonl"
    client = running.client()
    try:
        assert client.ss58_address == keypair_from_text(KEY).ss58_address
        with pytest.raises(SignerRefused) as refused:
            client.sign(b"an extrinsic, say")
        assert refused.value.code == "not_a_checkpoint"
        export_database(db, out, client, checkpoint_every=5)
    finally:
        client.close()
    report = verify(ExportFile(out), expected_signer=keypair_from_text(KEY).ss58_address)
    assert report.export.signer == keypair_from_text(KEY).ss58_address
    assert report.export.checkpoints >= 2


GOOD = {"netuid": NETUID, "uids": [1, 2], "weights": [65535, 30000], "version_key": 0}


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"netuid": 121}, "wrong_netuid"),
        ({"uids": [1, 2, 3]}, "length_mismatch"),
        ({"weights": [65536, 1]}, "weight_out_of_range"),
        ({"weights": [-1, 1]}, "weight_out_of_range"),
        ({"weights": [0.5, 1]}, "weight_out_of_range"),
        ({"uids": [1, 70000]}, "uid_out_of_range"),
        ({"uids": [2, 2]}, "duplicate_uid"),
        ({"weights": [0, 0]}, "all_zero"),
        ({"uids": [], "weights": []}, "all_zero"),
        ({"version_key": -1}, "bad_version_key"),
        ({"uids": "1,2"}, "bad_request"),
    ],
)
def test_weights_off_the_rules_are_refused_by_name_and_nothing_is_submitted(
    running: Running, change: dict[str, Any], rule: str
) -> None:
    before = running.row()
    with running.http() as http:
        answer = http.post("/set_weights", json={**GOOD, **change})
    assert (answer.status_code, answer.json()["refused"]) == (400, rule)
    assert running.row() == before


def test_weights_through_the_signer_land_on_chain_and_a_refusal_comes_back_as_an_outcome(
    running: Running,
) -> None:
    running.chain.advance(100)
    chain = SignerChain(LocalChain(running.socket.parent / "chain.db"), running.client())
    try:
        assert chain.signer_hotkey == "validator"
        landed = chain.set_weights(NETUID, {1: 0.5, 2: 0.3, 3: 0.2}, version_key=0)
        assert landed.ok, landed
        assert landed.intended == ((1, 0.5), (2, 0.3), (3, 0.2))
        assert landed.sent == ((1, 65535), (2, 39321), (3, 26214))
        assert running.row() == landed.sent
        again = chain.set_weights(NETUID, {2: 1.0}, version_key=0)
        assert (again.ok, again.error_code, again.sent) == (False, "rate_limited", ())
        assert again.retry_in_blocks == chain.blocks_until_weights_allowed(NETUID, 0) > 0
        assert running.row() == landed.sent
        with pytest.raises(ChainRefused):
            chain.commit(NETUID, "{}")
    finally:
        chain.close()


def test_every_request_is_one_log_line_with_its_outcome_and_never_the_token(
    running: Running,
) -> None:
    seen = len(running.signer.requests())
    with running.http() as http:
        http.get("/healthz")
        http.post("/sign", json={"message": b"hello".hex()})
        http.post("/set_weights", json={**GOOD, "netuid": 7})
        http.get("/elsewhere")
    with running.http("a-wrong-token-of-some-length") as http:
        http.get("/healthz")
    lines = running.signer.requests()[seen:]
    assert [(r["path"], r["status"], r["outcome"]) for r in lines] == [
        ("/healthz", 200, "ok"),
        ("/sign", 400, "refused:not_a_checkpoint"),
        ("/set_weights", 400, "refused:wrong_netuid"),
        ("/elsewhere", 404, "not_found"),
        ("/healthz", 401, "bad_token"),
    ]
    assert all(r["client"] == "unix" for r in lines)
    log = running.signer.log.read_text()
    assert running.token not in log and "a-wrong-token-of-some-length" not in log


def test_on_loopback_tcp_the_signer_serves_the_same_api(running: Running, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    root = running.socket.parent
    args = ["--token-file", "token", "--port", str(port), "--chain-db", "chain.db", "--key", "key"]
    with SignerProcess(args, cwd=root, log=tmp_path / "tcp.log", url=url) as signer:
        client = SignerClient(url, running.token, timeout=30)
        try:
            health = client.health()
            message = checkpoint_message(10, 10, HEAD, 1)
            signature = client.sign(message)
        finally:
            client.close()
        assert health.hotkey == "validator"
        assert signature_is_valid(message, signature, health.checkpoint_signer)
        (line,) = [r for r in signer.requests() if r["path"] == "/sign"]
        assert line["client"].startswith("127.0.0.1:")
