"""`ChutesEndpoints`: the seeds' first design, where each miner hosts its own model on Chutes.

A commitment then names a chute (``chute_id``) beside its model and revision. Nothing is
started here: a "deploy" looks the chute up through the Chutes API and accepts it only if it
serves what the miner committed, and inference goes to the chute's own URL with our key.

What is read of ``GET {api_url}/chutes/{chute_id}`` (the API's ``ChuteResponse``, as the
chutes-api source and the seed-era validator read it):

- ``hot``: true when at least one of the chute's instances is active and verified (a field
  the API computes from ``instances``); a chute that is not hot answers nobody;
- ``name``: the chute's name, which the seed-era rule holds equal to the committed model;
- ``revision``: the Hub revision the chute was built from, empty or absent when none was
  given; when present, it must be the committed one;
- ``slug``: the chute's subdomain, which its OpenAI-compatible URL is made of
  (``https://{slug}.chutes.ai/v1``).

A 404 is a chute that does not exist (or that the key may not see); any other status, a
timeout or a body that cannot be read as a bounded JSON object is the API being unavailable,
which says nothing about the miner.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx

from throne.adapters.hosting.answers import MAX_ANSWER_BYTES, read_capped
from throne.domain.bounded_json import UnreadableJson, read_json
from throne.ports.model_host import (
    Capacity,
    DeployFailed,
    Deployment,
    DeploymentSpec,
    Health,
    Probe,
)

#: what `capacity` says: Chutes hosts every miner's chute on the miner's own GPUs, so this
#: host never runs out of room; a large number, so the scheduler never waits for a free slot
UNBOUNDED = 1_000_000


class ChutesEndpoints:
    """A `ModelHost` that serves nothing itself: it resolves a commitment's ``chute_id`` to the
    miner's own chute, checked against the commitment."""

    def __init__(
        self,
        api_url: str = "https://api.chutes.ai",
        *,
        api_key: str | None,
        url_template: str = "https://{slug}.chutes.ai/v1",
        timeout: float = 10.0,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._api_key = api_key
        self._url_template = url_template
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(timeout=timeout, headers=headers)

    def deploy(self, spec: DeploymentSpec) -> Deployment:
        if self._http.is_closed:
            raise DeployFailed("host_closed", "the Chutes client was closed")
        chute_id = spec.extra.get("chute_id")
        if not isinstance(chute_id, str) or not chute_id.strip():
            raise DeployFailed("no_chute_id", "the commitment names no chute")
        chute = self._chute(chute_id)
        _check(chute, spec.model, spec.revision)
        slug = chute.get("slug")
        if not isinstance(slug, str) or not slug:
            raise DeployFailed("chutes_unavailable", f"chute {chute_id} has no slug")
        now = time.time()
        return Deployment(
            id=chute_id,
            hotkey=spec.hotkey,
            model=spec.model,
            revision=spec.revision,
            role=spec.role,
            base_url=self._url_template.format(slug=slug),
            served_model=spec.model,
            started_at=now,
            ready_at=now,
            api_key=self._api_key,
        )

    def health(self, deployment: Deployment) -> Health:
        """The chute as the API sees it now: still hot, still the committed model."""
        try:
            _check(self._chute(deployment.id), deployment.model, deployment.revision)
        except DeployFailed as exc:
            return Health(False, exc.reason)
        return Health(True)

    def teardown(self, deployment: Deployment) -> None:
        """Nothing to stop: the chute is the miner's, and stays up for whoever else calls."""

    def capacity(self) -> Capacity:
        return Capacity(UNBOUNDED, UNBOUNDED)

    def preflight(self) -> list[Probe]:
        probes = [
            Probe(
                "chutes key",
                bool(self._api_key),
                "set" if self._api_key else "no API key: chutes may refuse every lookup",
            )
        ]
        try:
            with self._http.stream("GET", f"{self._api_url}/ping") as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            why = " ".join(str(exc).split()) or type(exc).__name__
            return [*probes, Probe("chutes api", False, f"{self._api_url} unreachable ({why})")]
        ok = status < 400
        return [*probes, Probe("chutes api", ok, f"{self._api_url} answered {status}")]

    def recover(self) -> list[Deployment]:
        """Nothing was started, so nothing is left: the scheduler resolves each chute again."""
        return []

    def close(self) -> None:
        self._http.close()

    def _chute(self, chute_id: str) -> dict[str, object]:
        """The chute's record; the id is quoted as one path segment, so a commitment's text
        never walks the API's paths."""
        url = f"{self._api_url}/chutes/{quote(chute_id, safe='')}"
        try:
            with self._http.stream("GET", url) as got:
                if got.status_code == 404:
                    raise DeployFailed("chute_not_found", f"no chute {chute_id}")
                if got.status_code != 200:
                    raise DeployFailed("chutes_unavailable", f"{url} answered {got.status_code}")
                body = read_capped(got, MAX_ANSWER_BYTES)
        except httpx.TimeoutException:
            raise DeployFailed("chutes_unavailable", f"{url} timed out") from None
        except httpx.HTTPError as exc:
            why = " ".join(str(exc).split()) or type(exc).__name__
            raise DeployFailed("chutes_unavailable", f"{url}: {why}") from None
        except UnreadableJson as exc:
            raise DeployFailed("chutes_unavailable", f"{url}: {exc}") from None
        try:
            chute = read_json(body, max_bytes=MAX_ANSWER_BYTES)
        except UnreadableJson as exc:
            raise DeployFailed("chutes_unavailable", f"{url}: {exc}") from None
        if not isinstance(chute, dict):
            raise DeployFailed("chutes_unavailable", f"{url}: not a JSON object")
        return chute


def _check(chute: dict[str, object], model: str, revision: str) -> None:
    """The seed-era rule: a hot chute, named as the committed model, built from the committed
    revision (or from none named)."""
    if chute.get("hot") is not True:
        raise DeployFailed("chute_not_hot", f"chute {chute.get('chute_id')} has no hot instance")
    if chute.get("name") != model:
        raise DeployFailed(
            "chute_model_mismatch", f"the chute serves {chute.get('name')!r}, not {model!r}"
        )
    served = chute.get("revision")
    if served not in (None, "") and served != revision:
        raise DeployFailed(
            "chute_revision_mismatch", f"the chute is at {served!r}, not {revision!r}"
        )
