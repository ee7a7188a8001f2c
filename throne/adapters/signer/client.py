"""`SignerClient`: the daemon's way to the hotkey that a ``throne signer`` process holds.

The daemon talks to untrusted miners, so it keeps no key: it asks the signer, over a unix
socket (``unix:///run/throne/signer.sock``) or loopback HTTP, to sign a checkpoint or to submit
a weight vector, with a bearer token. Every request has a bounded timeout; a signer that is
down or slow is a `SignerUnavailable` (retry later), a refusal a `SignerRefused` naming the
rule. The client is itself a `Signer` (``ss58_address``, ``sign``), for checkpoint signing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from throne.adapters.signer.url import parse_signer_url
from throne.ports.chain import ChainRefused
from throne.ports.signer import Signer, SignerRefused, SignerUnavailable

#: The longest a connection to the signer may take to open: it is local.
CONNECT_SECONDS = 5.0


@dataclass(frozen=True)
class SignerHealth:
    """What a signer says of itself: the hotkey it sets weights as, the address its checkpoint
    signatures verify against (the same key on a Bittensor network), its subnet and chain."""

    hotkey: str
    checkpoint_signer: str
    key_loaded: bool
    netuid: int
    chain: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SignerHealth:
        try:
            values = {
                "hotkey": d["hotkey"],
                "checkpoint_signer": d["checkpoint_signer"],
                "key_loaded": d["key_loaded"],
                "netuid": d["netuid"],
                "chain": d["chain"],
            }
        except KeyError as exc:
            raise ValueError(f"no {exc.args[0]}") from exc
        kinds = {"key_loaded": bool, "netuid": int}
        for name, value in values.items():
            if type(value) is not kinds.get(name, str):
                raise ValueError(f"{name} is {value!r}")
        return cls(**values)


class SignerClient(Signer):
    """A ``throne signer`` at ``url``, asked with ``token``.

    ``timeout`` bounds a health check and a signature; ``write_timeout`` a weight submission,
    which waits for the chain at the signer's end (it must outlast the signer's own chain
    deadline, or a submission that lands is taken for one that failed)."""

    def __init__(
        self, url: str, token: str, *, timeout: float = 10.0, write_timeout: float = 130.0
    ) -> None:
        base, uds = parse_signer_url(url)
        self.url = url
        self._timeout = timeout
        self._write_timeout = write_timeout
        self._headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.HTTPTransport(uds=uds) if uds is not None else None
        self._http = httpx.Client(
            base_url=base,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_SECONDS)),
            trust_env=False,  # a proxy from the environment never sees the token
        )
        self._address: str | None = None
        self._lock = threading.Lock()

    # -- the Signer port -----------------------------------------------------------------

    @property
    def ss58_address(self) -> str:
        """The address the signer's checkpoint signatures verify against (asked once)."""
        with self._lock:
            if self._address is None:
                self._address = self.health().checkpoint_signer
            return self._address

    def sign(self, data: bytes) -> bytes:
        """The signer's signature of ``data``, a checkpoint's or an end record's message (the
        signer signs nothing else), checked against the address before it is returned."""
        from throne.audit.signing import signature_is_valid

        expected = self.ss58_address
        answer = self._request("POST", "/sign", {"message": data.hex()}, self._timeout)
        try:
            signer, signature = answer["signer"], bytes.fromhex(answer["signature"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SignerUnavailable(f"the signer at {self.url} sent no signature") from exc
        if signer != expected:
            raise SignerRefused(
                f"the signer at {self.url} now signs as {signer}, not {expected}: it was "
                "restarted with another key",
                "signer_changed",
            )
        if not signature_is_valid(data, signature, signer):
            raise SignerRefused(
                f"the signer at {self.url} sent a signature that does not verify for {signer}",
                "bad_signature",
            )
        return signature

    # -- the rest of what the signer offers ----------------------------------------------

    def health(self) -> SignerHealth:
        answer = self._request("GET", "/healthz", None, self._timeout)
        try:
            return SignerHealth.from_dict(answer)
        except ValueError as exc:
            raise SignerUnavailable(
                f"the signer at {self.url} answered /healthz with no health: {exc}"
            ) from exc

    def set_weights(
        self, netuid: int, u16: Sequence[tuple[int, int]], version_key: int
    ) -> dict[str, Any]:
        """Ask the signer to submit ``u16`` (``(uid, value)`` pairs) on ``netuid``: the fields
        of the `WeightSubmission` its chain adapter returned."""
        body = {
            "netuid": netuid,
            "uids": [uid for uid, _ in u16],
            "weights": [value for _, value in u16],
            "version_key": version_key,
        }
        return self._request("POST", "/set_weights", body, self._write_timeout)

    def close(self) -> None:
        self._http.close()

    # -- internals -----------------------------------------------------------------------

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None, timeout: float
    ) -> dict[str, Any]:
        try:
            response = self._http.request(
                method,
                path,
                json=body,
                headers=self._headers,
                timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_SECONDS)),
            )
        except httpx.TimeoutException as exc:
            raise SignerUnavailable(
                f"the signer at {self.url} did not answer {path} within {timeout:g} s"
            ) from exc
        except httpx.TransportError as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise SignerUnavailable(f"cannot reach the signer at {self.url}: {reason}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise SignerUnavailable(
                f"the signer at {self.url} answered {path} with {response.status_code} and "
                "no JSON object"
            )
        status = response.status_code
        if status == 200:
            return answer
        message = str(answer.get("message", ""))
        if status == 401:
            raise SignerRefused(
                f"the signer at {self.url} refused the token: check signer_token_file",
                "unauthorized",
            )
        if status == 400:
            rule = str(answer.get("refused", "bad_request"))
            raise SignerRefused(f"the signer refused {path}: {rule}: {message}", rule)
        if status == 502:  # the chain refused what the signer sent it
            raise ChainRefused(message, str(answer.get("code", "chain_error")))
        raise SignerUnavailable(
            f"the signer at {self.url} answered {path} with {status}: {message}"
        )
