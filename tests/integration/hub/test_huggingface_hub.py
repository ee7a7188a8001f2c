"""HuggingFaceHub against a Hub imitation on loopback: the hash rule, caching, faults, budget."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from tests.support.clock import FakeClock
from tests.support.fake_hub import (
    FakeHub,
    Fault,
    SilentServer,
    git_file,
    lfs_file,
)
from tests.support.ports import refusing_port
from tests.support.waiting import wait_until
from throne.adapters.hub import HuggingFaceHub

SHARD_1 = b"layer weights, first half"
SHARD_2 = b"layer weights, second half"
BACKOFF = 600.0
MISSING_BACKOFF = 6 * BACKOFF


def expected_hash(*contents: bytes) -> str:
    digests = sorted(hashlib.sha256(c).hexdigest() for c in contents)
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def weights(prefix: str = "model") -> list[dict[str, object]]:
    return [
        lfs_file(f"{prefix}-00001-of-00002.safetensors", SHARD_1),
        lfs_file(f"{prefix}-00002-of-00002.safetensors", SHARD_2),
    ]


@pytest.fixture(scope="module")
def served() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub


@pytest.fixture
def fake(served: FakeHub) -> FakeHub:
    served.reset()
    return served


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def hub_for(url: str, clock: FakeClock, **options: float) -> HuggingFaceHub:
    kwargs: dict[str, float] = {"timeout": 2.0, "budget": 5.0} | options
    return HuggingFaceHub(url, clock=clock, retry_after_failure=BACKOFF, **kwargs)  # type: ignore[arg-type]


def test_the_hash_is_the_sha256_of_the_sorted_weight_file_digests(
    fake: FakeHub, clock: FakeClock
) -> None:
    sha = fake.publish("org/affine-a", [*weights(), git_file("config.json")])
    found = hub_for(fake.url, clock).model_hashes([("org/affine-a", sha)])
    assert found == [("org/affine-a", sha, expected_hash(SHARD_1, SHARD_2))]
    (seen,) = fake.seen
    assert seen.path == f"/api/models/org/affine-a/revision/{sha}"
    assert seen.query == "blobs=true"


def test_the_same_weights_under_another_repo_and_file_names_hash_alike(
    fake: FakeHub, clock: FakeClock
) -> None:
    original = fake.publish("alice/affine-a", [*weights("model"), git_file("README.md")])
    copy = fake.publish("bob/affine-b", [*weights("renamed"), git_file("README.md", b"mine!")])
    other = fake.publish("carol/affine-c", [lfs_file("model.safetensors", b"her own")])
    found = hub_for(fake.url, clock).model_hashes(
        [("alice/affine-a", original), ("bob/affine-b", copy), ("carol/affine-c", other)]
    )
    hashes = {model: h for model, _, h in found}
    assert hashes["alice/affine-a"] == hashes["bob/affine-b"]
    assert hashes["carol/affine-c"] == expected_hash(b"her own")
    assert hashes["carol/affine-c"] != hashes["alice/affine-a"]


def test_only_lfs_safetensors_and_bin_files_count(fake: FakeHub, clock: FakeClock) -> None:
    plain = fake.publish("org/affine-plain", weights())
    padded = fake.publish(
        "org/affine-padded",
        [
            *weights(),
            lfs_file("tokenizer.json", b"a big tokenizer"),
            lfs_file("model.gguf", b"another format"),
            lfs_file("training_args.pt", b"pickled"),
            git_file("adapter.bin", b"small, kept in git"),
            git_file("config.json"),
        ],
    )
    with_bin = fake.publish("org/affine-bin", [*weights(), lfs_file("extra.bin", b"more")])
    found = hub_for(fake.url, clock).model_hashes(
        [("org/affine-plain", plain), ("org/affine-padded", padded), ("org/affine-bin", with_bin)]
    )
    hashes = {model: h for model, _, h in found}
    assert hashes["org/affine-padded"] == hashes["org/affine-plain"]
    assert hashes["org/affine-bin"] == expected_hash(SHARD_1, SHARD_2, b"more")


def test_a_commit_without_lfs_weight_files_has_no_hash(fake: FakeHub, clock: FakeClock) -> None:
    sha = fake.publish("org/affine-empty", [git_file("config.json"), git_file("model.bin")])
    assert hub_for(fake.url, clock).model_hashes([("org/affine-empty", sha)]) == []


@pytest.mark.parametrize("revision", ["main", "short"])
def test_a_branch_or_a_short_sha_gives_no_hash_and_is_logged_once(
    fake: FakeHub, clock: FakeClock, revision: str
) -> None:
    sha = fake.publish("org/affine-moving", weights())
    committed = sha[:8] if revision == "short" else revision
    hub = hub_for(fake.url, clock)
    with capture_logs() as logs:
        assert hub.model_hashes([("org/affine-moving", committed)]) == []
        clock.advance(MISSING_BACKOFF + 1)
        assert hub.model_hashes([("org/affine-moving", committed)]) == []
    assert fake.requests_for("org/affine-moving") == 2
    (told,) = [e for e in logs if e["event"] == "model_hash_unknown"]
    assert "not a full commit sha" in told["reason"]


def test_a_full_sha_in_capitals_is_not_the_commit_sha(fake: FakeHub, clock: FakeClock) -> None:
    sha = fake.publish("org/affine-caps", weights())
    assert hub_for(fake.url, clock).model_hashes([("org/affine-caps", sha.upper())]) == []


@pytest.mark.parametrize(
    ("fault", "backoff"),
    [
        (Fault(404, b'{"error": "Revision Not Found"}'), MISSING_BACKOFF),
        (Fault(401, b'{"error": "Repository not found"}'), MISSING_BACKOFF),
        (Fault(403, b'{"error": "gated"}'), MISSING_BACKOFF),
        (Fault(500), BACKOFF),
        (Fault(503, headers={"Retry-After": "5"}), BACKOFF),
        (Fault(429, headers={"Retry-After": "120"}), 120.0),
        (Fault(429), BACKOFF),
        (Fault(200, b"<html>not json</html>"), BACKOFF),
        (Fault(200, b'{"sha": "x"}'), BACKOFF),
        (Fault(200, b"[1, 2]"), BACKOFF),
        (Fault(200, b'{"id": "org/affine-x", "sha": "x", "siblings": ["m.bin"]}'), BACKOFF),
        (Fault(200, b'{"id": "org/affine-x", "sha": "x"}'), BACKOFF),
    ],
    ids=[
        "404",
        "401",
        "403",
        "500",
        "503",
        "429-retry-after",
        "429",
        "not-json",
        "no-siblings",
        "not-an-object",
        "a-file-not-an-object",
        "no-file-list",
    ],
)
def test_a_failed_lookup_gives_no_hash_and_waits_out_its_backoff(
    fake: FakeHub, clock: FakeClock, fault: Fault, backoff: float
) -> None:
    sha = fake.publish("org/affine-x", weights())
    fake.faults["org/affine-x"] = fault
    hub = hub_for(fake.url, clock)
    assert hub.model_hashes([("org/affine-x", sha)]) == []
    assert hub.model_hashes([("org/affine-x", sha)]) == []
    clock.advance(backoff - 1)
    assert hub.model_hashes([("org/affine-x", sha)]) == []
    assert fake.requests_for("org/affine-x") == 1
    clock.advance(2)
    del fake.faults["org/affine-x"]
    assert hub.model_hashes([("org/affine-x", sha)]) == [
        ("org/affine-x", sha, expected_hash(SHARD_1, SHARD_2))
    ]
    assert fake.requests_for("org/affine-x") == 2


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"sha": "' + b"[" * 5000, b'{"siblings": ' + b"{" * 3000],
    ids=["nested-arrays", "unclosed-string", "nested-objects-cut-short"],
)
def test_a_hostile_answer_is_a_named_failure_not_an_unexpected_error(
    fake: FakeHub, clock: FakeClock, body: bytes
) -> None:
    sha = fake.publish("org/affine-x", weights())
    fake.faults["org/affine-x"] = Fault(200, body)
    with capture_logs() as logs:
        assert hub_for(fake.url, clock).model_hashes([("org/affine-x", sha)]) == []
    (told,) = [e for e in logs if e["event"] == "model_hash_unknown"]
    assert told["reason"].startswith("response is not readable JSON")
    assert "unexpected" not in told["reason"]


def test_a_retry_after_date_is_honoured(fake: FakeHub, clock: FakeClock) -> None:
    from email.utils import formatdate

    sha = fake.publish("org/affine-x", weights())
    fake.faults["org/affine-x"] = Fault(429, headers={"Retry-After": formatdate(time.time() + 60)})
    hub = hub_for(fake.url, clock)
    assert hub.model_hashes([("org/affine-x", sha)]) == []
    clock.advance(55)
    assert hub.model_hashes([("org/affine-x", sha)]) == []
    assert fake.requests_for("org/affine-x") == 1
    clock.advance(10)
    hub.model_hashes([("org/affine-x", sha)])
    assert fake.requests_for("org/affine-x") == 2


def test_an_overloaded_hub_pauses_every_lookup(fake: FakeHub, clock: FakeClock) -> None:
    shas = {f"org/affine-{i}": fake.publish(f"org/affine-{i}", weights()) for i in range(3)}
    fake.faults["org/affine-0"] = Fault(503)
    hub = hub_for(fake.url, clock, concurrency=1)
    assert hub.model_hashes(sorted(shas.items())) == []
    assert len(fake.seen) == 1  # the others wait for the hub to recover
    clock.advance(BACKOFF / 2)
    assert hub.model_hashes(sorted(shas.items())) == []
    assert len(fake.seen) == 1
    clock.advance(BACKOFF)
    del fake.faults["org/affine-0"]
    assert len(hub.model_hashes(sorted(shas.items()))) == 3


def test_a_hanging_hub_times_out_without_an_exception_and_is_not_asked_again_soon(
    clock: FakeClock,
) -> None:
    with SilentServer() as silent:
        hub = hub_for(silent.url, clock, timeout=0.3)
        began = time.monotonic()
        assert hub.model_hashes([("org/affine-x", "a" * 40)]) == []
        assert time.monotonic() - began < 3
        assert hub.model_hashes([("org/affine-x", "a" * 40), ("org/affine-y", "b" * 40)]) == []
        assert silent.connections == 1
        clock.advance(BACKOFF + 1)
        assert hub.model_hashes([("org/affine-x", "a" * 40)]) == []
        assert silent.connections == 2


def test_a_refused_connection_gives_no_hash_and_pauses_the_hub(clock: FakeClock) -> None:
    with refusing_port() as port, capture_logs() as logs:
        hub = hub_for(f"http://127.0.0.1:{port}", clock)
        assert hub.model_hashes([("org/affine-x", "a" * 40)]) == []
        assert hub.model_hashes([("org/affine-x", "a" * 40), ("org/affine-y", "b" * 40)]) == []
        clock.advance(BACKOFF + 1)
        assert hub.model_hashes([("org/affine-x", "a" * 40)]) == []
    attempts = [e for e in logs if e["event"] == "model_hash_unknown"]
    assert len(attempts) == 2
    assert all(e["hub_paused"] for e in attempts)
    assert "Refused" in attempts[0]["reason"]


def test_a_known_hash_is_never_asked_for_again(fake: FakeHub, clock: FakeClock) -> None:
    sha = fake.publish("org/affine-a", weights())
    hub = hub_for(fake.url, clock)
    first = hub.model_hashes([("org/affine-a", sha)])
    fake.faults["org/affine-a"] = Fault(500)  # the hub goes down: the commit has not changed
    clock.advance(10 * MISSING_BACKOFF)
    assert hub.model_hashes([("org/affine-a", sha), ("org/affine-a", sha)]) == first
    assert fake.requests_for("org/affine-a") == 1


def test_the_budget_stops_a_call_early_and_later_calls_go_on(
    fake: FakeHub, clock: FakeClock
) -> None:
    pairs = [(f"org/affine-{i}", fake.publish(f"org/affine-{i}", weights())) for i in range(5)]
    fake.on_request = lambda: clock.advance(10)  # every request takes ten seconds
    hub = hub_for(fake.url, clock, budget=25, concurrency=1)
    assert [m for m, _, _ in hub.model_hashes(pairs)] == [
        "org/affine-0",
        "org/affine-1",
        "org/affine-2",
    ]
    assert len(fake.seen) == 3
    assert len(hub.model_hashes(pairs)) == 5
    assert len(fake.seen) == 5


def test_the_budget_bounds_a_call_in_real_time_too(clock: FakeClock) -> None:
    with SilentServer() as silent, capture_logs() as logs:
        hub = hub_for(silent.url, clock, timeout=3.0, budget=0.2)
        assert hub.model_hashes([("org/affine-x", "a" * 40)]) == []
        # Back before the request it left running timed out (that request logs its failure).
        assert logs == []
        deadline = time.monotonic() + 30
        while not logs and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e["event"] for e in logs] == ["model_hash_unknown"]
        assert hub.model_hashes([("org/affine-x", "a" * 40)]) == []
        assert silent.connections == 1


def test_a_model_that_is_not_a_repo_id_is_never_requested(fake: FakeHub, clock: FakeClock) -> None:
    hub = hub_for(fake.url, clock)
    odd = [("../../etc/passwd", "a" * 40), ("org/a?b=c", "a" * 40), ("", "a" * 40)]
    assert hub.model_hashes(odd) == []
    assert fake.seen == []


def test_a_revision_is_sent_percent_encoded(fake: FakeHub, clock: FakeClock) -> None:
    fake.publish("org/affine-a", weights())
    hub_for(fake.url, clock).model_hashes([("org/affine-a", "refs/pr/1")])
    (seen,) = fake.seen
    assert seen.path == "/api/models/org/affine-a/revision/refs%2Fpr%2F1"
    assert seen.query == "blobs=true"


def test_a_token_goes_out_as_a_bearer_header(fake: FakeHub, clock: FakeClock) -> None:
    sha = fake.publish("org/affine-a", weights())
    HuggingFaceHub(fake.url, token="hf_secret", clock=clock).model_hashes([("org/affine-a", sha)])
    HuggingFaceHub(fake.url, clock=clock).model_hashes([("org/affine-a", sha)])
    assert [s.authorization for s in fake.seen] == ["Bearer hf_secret", None]


def test_a_renamed_repo_is_followed_and_the_token_stays_on_its_host(
    fake: FakeHub, clock: FakeClock
) -> None:
    sha = fake.publish("org/affine-new", weights())
    fake.faults["org/affine-old"] = Fault(
        307, headers={"Location": f"/api/models/org/affine-new/revision/{sha}?blobs=true"}
    )
    with FakeHub() as elsewhere:
        away = elsewhere.publish("org/affine-away", weights())
        fake.faults["org/affine-moved"] = Fault(
            307,
            headers={
                "Location": f"{elsewhere.url}/api/models/org/affine-away/revision/{away}?blobs=true"
            },
        )
        hub = HuggingFaceHub(fake.url, token="hf_secret", clock=clock)
        found = hub.model_hashes([("org/affine-old", sha), ("org/affine-moved", away)])
        assert [m for m, _, _ in found] == ["org/affine-old", "org/affine-moved"]
        assert [s.authorization for s in elsewhere.seen] == [None]
    assert [s.authorization for s in fake.seen] == ["Bearer hf_secret"] * 3


def test_a_request_left_hanging_does_not_hold_up_the_process_exit() -> None:
    import subprocess
    import sys

    # The request would hang for 120 s; the lookup's budget ends after 3 s (room for a loaded
    # machine to open the connection first). A process that waited for the request at exit
    # would outlive the 60 s given to it.
    script = (
        "import sys\n"
        "from throne.adapters.hub import HuggingFaceHub\n"
        "hub = HuggingFaceHub(sys.argv[1], timeout=120.0, budget=3.0)\n"
        "assert hub.model_hashes([('org/affine-x', 'a' * 40)]) == []\n"
    )
    with SilentServer() as silent:
        done = subprocess.run([sys.executable, "-c", script, silent.url], timeout=60)
        assert done.returncode == 0
        # the request did reach the server (its connection may be accepted after the exit)
        assert wait_until(lambda: silent.connections == 1, timeout=10.0)


def test_the_hub_client_asks_for_the_commit_and_its_file_metadata_as_it_is(
    fake: FakeHub, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A token the library would find on the machine is not ours to send.
    monkeypatch.setenv("HF_TOKEN", "hf_found_in_the_environment")
    sha = fake.publish("org/affine-a", weights())
    assert hub_for(fake.url, clock).model_hashes([("org/affine-a", sha)])
    (seen,) = fake.seen
    assert (seen.path, seen.query) == (f"/api/models/org/affine-a/revision/{sha}", "blobs=true")
    assert seen.accept_encoding == "identity"
    assert seen.authorization is None


@pytest.mark.parametrize(
    ("hide", "told"),
    [
        ("missing repo", "not found or not visible (401): repo not found or private"),
        ("private repo", "not found or not visible (401): repo not found or private"),
        ("disabled repo", "not found or not visible (403): repo is disabled"),
        ("missing revision", "not found or not visible (404): revision not found"),
        # What the Hub says of a gated repo's files, should it say it of the listing too.
        ("gated answer", "not found or not visible (403): repo is gated"),
    ],
)
def test_a_repo_or_revision_the_hub_says_is_not_there_waits_the_long_backoff(
    fake: FakeHub, clock: FakeClock, hide: str, told: str
) -> None:
    sha = fake.publish("org/affine-x", weights())
    other = fake.publish("org/affine-y", weights())
    pair = ("org/affine-x", sha)
    if hide == "missing repo":
        pair = ("org/affine-gone", sha)
    elif hide == "private repo":
        fake.private.add("org/affine-x")
    elif hide == "disabled repo":
        fake.disabled.add("org/affine-x")
    elif hide == "gated answer":
        fake.faults["org/affine-x"] = Fault(403, headers={"X-Error-Code": "GatedRepo"})
    else:
        pair = ("org/affine-x", "f" * 40)
    hub = hub_for(fake.url, clock)
    with capture_logs() as logs:
        assert hub.model_hashes([pair]) == []
        clock.advance(MISSING_BACKOFF - 1)
        # Not the whole hub's trouble: the others are asked meanwhile.
        assert hub.model_hashes([pair, ("org/affine-y", other)]) == [
            ("org/affine-y", other, expected_hash(SHARD_1, SHARD_2))
        ]
    assert [e["reason"] for e in logs if e["event"] == "model_hash_unknown"] == [told]
    assert not any(e.get("hub_paused") for e in logs)
    assert fake.requests_for(pair[0]) == 1
    clock.advance(2)
    hub.model_hashes([pair])
    assert fake.requests_for(pair[0]) == 2


def test_a_private_repo_is_seen_with_a_token_and_a_gated_repo_lists_its_files_to_anyone(
    fake: FakeHub, clock: FakeClock
) -> None:
    private = fake.publish("org/affine-private", weights())
    gated = fake.publish("org/affine-gated", weights())
    fake.private.add("org/affine-private")
    fake.gated["org/affine-gated"] = "manual"
    pairs = [("org/affine-private", private), ("org/affine-gated", gated)]
    anonymous = hub_for(fake.url, clock).model_hashes(pairs)
    signed_in = HuggingFaceHub(fake.url, token="hf_secret", clock=clock).model_hashes(pairs)
    assert [m for m, _, _ in anonymous] == ["org/affine-gated"]
    assert [m for m, _, _ in signed_in] == ["org/affine-private", "org/affine-gated"]


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b'{"errors": [7]}', b"[" * 100_000, b"<html>down</html>", b"x" * 100_000],
    ids=["a-list", "odd-errors", "nested", "html", "over-the-bound"],
)
def test_an_error_answer_is_read_by_its_status_and_headers_whatever_its_body(
    fake: FakeHub, clock: FakeClock, body: bytes
) -> None:
    shas = {r: fake.publish(r, weights()) for r in ("org/affine-rev", "org/affine-down")}
    fake.faults["org/affine-rev"] = Fault(404, body, {"X-Error-Code": "RevisionNotFound"})
    fake.faults["org/affine-down"] = Fault(503, body)
    with capture_logs() as logs:
        for repo, sha in shas.items():
            hub_for(fake.url, clock, max_body_bytes=10_000).model_hashes([(repo, sha)])
    told = {e["model"]: (e["reason"], e["hub_paused"]) for e in logs}
    assert told == {
        "org/affine-rev": ("not found or not visible (404): revision not found", False),
        "org/affine-down": ("hub error (503)", True),
    }


@pytest.mark.parametrize("chunked", [False, True], ids=["with-its-length", "chunked"])
def test_an_answer_larger_than_the_bound_is_refused(
    fake: FakeHub, clock: FakeClock, chunked: bool
) -> None:
    sha = fake.publish("org/affine-x", weights())
    padded = b'{"id": "org/affine-x", "pad": "' + b"x" * 200_000 + b'"}'
    fake.faults["org/affine-x"] = Fault(200, padded, chunked=chunked)
    hub = hub_for(fake.url, clock, max_body_bytes=100_000)
    with capture_logs() as logs:
        assert hub.model_hashes([("org/affine-x", sha)]) == []
    assert [e["reason"] for e in logs] == ["response larger than 100000 bytes"]
    # The bound is the hub's alone: an honest answer under it is read.
    del fake.faults["org/affine-x"]
    clock.advance(BACKOFF + 1)
    assert hub.model_hashes([("org/affine-x", sha)])


def test_a_compressed_answer_is_refused_as_it_could_inflate_past_the_bound(
    fake: FakeHub, clock: FakeClock
) -> None:
    import gzip

    sha = fake.publish("org/affine-x", weights())
    bomb = gzip.compress(b'{"id": "org/affine-x", "pad": "' + b"x" * 1_000_000 + b'"}')
    fake.faults["org/affine-x"] = Fault(200, bomb, {"Content-Encoding": "gzip"})
    with capture_logs() as logs:
        hub = hub_for(fake.url, clock, max_body_bytes=100_000)
        assert hub.model_hashes([("org/affine-x", sha)]) == []
    assert [e["reason"] for e in logs] == [
        "response compressed (gzip) though it was asked for as it is"
    ]


def test_a_late_answer_is_cut_off_by_the_timeout_and_not_asked_again_by_the_hub_client(
    clock: FakeClock,
) -> None:
    with FakeHub() as late:
        sha = late.publish("org/affine-x", weights())
        late.delays["org/affine-x"] = 60.0
        hub = hub_for(late.url, clock, timeout=0.3)
        with capture_logs() as logs:
            assert hub.model_hashes([("org/affine-x", sha)]) == []
        # Our timeout ended the wait: the hub has not answered yet, and was asked once.
        assert late.answered == 0
        assert late.requests_for("org/affine-x") == 1
        (told,) = logs
        assert "timed out" in told["reason"] and told["hub_paused"]


def test_offline_mode_of_the_hub_client_is_an_unreachable_hub(
    fake: FakeHub, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    sha = fake.publish("org/affine-x", weights())
    with capture_logs() as logs:
        assert hub_for(fake.url, clock).model_hashes([("org/affine-x", sha)]) == []
    assert fake.seen == []
    (told,) = logs
    assert told["reason"].startswith("HF_HUB_OFFLINE is set") and told["hub_paused"]


def test_a_name_the_hub_client_refuses_is_settled_and_never_sent(
    fake: FakeHub, clock: FakeClock
) -> None:
    # Our own pattern lets "--" through; the hub's does not.
    with capture_logs() as logs:
        assert hub_for(fake.url, clock).model_hashes([("org/affine--x", "a" * 40)]) == []
    assert fake.seen == []
    assert logs[0]["reason"].startswith("not a hub repo id")
