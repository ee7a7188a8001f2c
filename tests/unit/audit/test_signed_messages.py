"""Which bytes are an audit export's signed messages: exactly what a version-3 checkpoint or end
record signs, in the one form the writer gives, and nothing else (what `throne signer` signs)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from throne.audit.format import checkpoint_message, end_message, signed_message_kind

counts = st.integers(min_value=0, max_value=2**63)
heads = st.binary(min_size=32, max_size=32).map(bytes.hex)


@given(seq=counts, events=counts, last_id=counts, head=heads)
def test_every_checkpoint_message_the_writer_signs_is_one(
    seq: int, events: int, last_id: int, head: str
) -> None:
    assert signed_message_kind(checkpoint_message(events, last_id, head, seq)) == "checkpoint"


@given(checkpoints=counts, events=counts, last_id=counts, head=heads, block=counts | st.none())
def test_every_end_message_the_writer_signs_is_one(
    checkpoints: int, events: int, last_id: int, head: str, block: int | None
) -> None:
    assert signed_message_kind(end_message(checkpoints, events, last_id, head, block)) == "end"


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_not_a_signed_message(data: bytes) -> None:
    assert signed_message_kind(data) is None


def test_near_misses_are_not_signed_messages() -> None:
    head = "ab" * 32
    good = checkpoint_message(5, 7, head, 2)
    for near in [
        checkpoint_message(5, 7, head),  # version 1's, no longer written
        good + b"\n",
        b" " + good,
        good.replace(b" 2:", b" 02:"),
        good.replace(head.encode(), head.upper().encode()),
        good[:-2],
        end_message(1, 5, 7, head, 9).replace(b":9", b":09"),
        end_message(1, 5, 7, head, None).replace(b"null", b"None"),
    ]:
        assert signed_message_kind(near) is None, near
