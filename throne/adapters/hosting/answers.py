"""Reading the answers of engines and hosting APIs: bounded, and parsed by `read_json`.

An engine is the miner's code run on our box, and a hosting API is someone else's server:
neither is trusted to send a small body. `read_capped` stops reading past the bound, so a huge
or endless answer costs at most that many bytes; `listed_models` is the readiness probe every
engine host shares (``GET {base_url}/models`` in the OpenAI shape).
"""

from __future__ import annotations

import httpx

from throne.domain.bounded_json import UnreadableJson, read_json

#: a model list or a chute's record is a few kilobytes; a megabyte leaves room and bounds it
MAX_ANSWER_BYTES = 1 << 20


class NotListing(Exception):
    """The engine did not list its models: refused, timed out, an error status or an
    unreadable body. The message is the short reason (``connection refused``, ``HTTP 503``)."""


def read_capped(response: httpx.Response, max_bytes: int = MAX_ANSWER_BYTES) -> bytes:
    """The body of a streamed ``response``, or `UnreadableJson` once it passes ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise UnreadableJson(f"over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def listed_models(client: httpx.Client, base_url: str) -> list[str]:
    """The ids ``GET {base_url}/models`` lists, or `NotListing` with the reason it did not."""
    try:
        with client.stream("GET", f"{base_url.rstrip('/')}/models") as response:
            if response.status_code != 200:
                raise NotListing(f"HTTP {response.status_code}")
            payload = read_json(read_capped(response), max_bytes=MAX_ANSWER_BYTES)
    except httpx.ConnectError:
        raise NotListing("connection refused") from None
    except httpx.TimeoutException:
        raise NotListing("timed out") from None
    except httpx.HTTPError as exc:
        raise NotListing(type(exc).__name__) from None
    except UnreadableJson as exc:
        raise NotListing(f"unreadable model list: {exc}") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise NotListing("no data list in the model list")
    return [str(m["id"]) for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
