"""`ModelCache` against the loopback Hub, through the real `huggingface_hub`: what it fetches,
what it keeps within its bound, and the named reason for every way a fetch fails."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_hub import FakeHub, Fault
from throne.adapters.hub.cache import FetchFailed, ModelCache

KB = 1024


def files(tag: str, size: int = 100 * KB) -> dict[str, bytes]:
    """A small model: a config kept in git and weights kept in LFS, ``size`` bytes of them."""
    return {
        "config.json": f'{{"model": "{tag}"}}'.encode(),
        "model.safetensors": (tag.encode() * size)[:size],
        "tokenizer/vocab.json": b"{}",
    }


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as fake:
        yield fake


def cache_for(hub: FakeHub, root: Path, max_bytes: int = 10 * 1024 * KB) -> ModelCache:
    return ModelCache(root, max_bytes, endpoint=hub.url, timeout=5.0)


def failure(cache: ModelCache, model: str, revision: str) -> FetchFailed:
    with pytest.raises(FetchFailed) as caught:
        cache.fetch(model, revision)
    return caught.value


def partial_is_empty(root: Path) -> bool:
    return not any((root / "partial").iterdir())


def test_a_fetch_gives_the_commit_s_files_and_a_second_is_served_from_disk(
    hub: FakeHub, tmp_path: Path
) -> None:
    sha = hub.publish_files("org/affine-a", files("a"))
    cache = cache_for(hub, tmp_path)
    assert cache.cached("org/affine-a", sha) is None
    folder = cache.fetch("org/affine-a", sha)
    assert (folder / "model.safetensors").read_bytes() == files("a")["model.safetensors"]
    assert (folder / "tokenizer" / "vocab.json").read_bytes() == b"{}"
    assert cache.cached("org/affine-a", sha) == folder
    assert cache.usage() >= 100 * KB
    assert cache.fetch("org/affine-a", sha) == folder
    assert hub.downloads_of("org/affine-a", "model.safetensors") == 1


def test_a_reopened_cache_keeps_what_was_complete_and_drops_a_half_written_download(
    hub: FakeHub, tmp_path: Path
) -> None:
    sha = hub.publish_files("org/affine-a", files("a"))
    folder = cache_for(hub, tmp_path).fetch("org/affine-a", sha)
    stray = tmp_path / "partial" / "left-by-a-crash"
    stray.mkdir()
    (stray / "blob.incomplete").write_bytes(b"x" * 10)
    again = cache_for(hub, tmp_path)
    assert again.cached("org/affine-a", sha) == folder
    assert not stray.exists()
    assert again.fetch("org/affine-a", sha) == folder
    assert hub.downloads_of("org/affine-a", "model.safetensors") == 1


def test_the_least_recently_used_pair_is_evicted_by_bytes(hub: FakeHub, tmp_path: Path) -> None:
    shas = {tag: hub.publish_files(f"org/affine-{tag}", files(tag)) for tag in "abc"}
    cache = cache_for(hub, tmp_path, max_bytes=250 * KB)
    cache.fetch("org/affine-a", shas["a"])
    cache.fetch("org/affine-b", shas["b"])
    cache.fetch("org/affine-a", shas["a"])  # a is now the more recently used
    cache.fetch("org/affine-c", shas["c"])
    assert cache.cached("org/affine-b", shas["b"]) is None
    assert cache.cached("org/affine-a", shas["a"]) is not None
    assert cache.cached("org/affine-c", shas["c"]) is not None
    assert cache.usage() <= 250 * KB
    assert len(list((tmp_path / "entries").iterdir())) == 2


def test_pinned_pairs_are_never_evicted_even_above_the_bound(hub: FakeHub, tmp_path: Path) -> None:
    shas = {tag: hub.publish_files(f"org/affine-{tag}", files(tag)) for tag in "abc"}
    cache = cache_for(hub, tmp_path, max_bytes=150 * KB)
    cache.pin([("org/affine-a", shas["a"]), ("org/affine-b", shas["b"])])
    cache.fetch("org/affine-a", shas["a"])
    cache.fetch("org/affine-b", shas["b"])
    assert cache.usage() > 150 * KB  # both pinned: both kept
    cache.fetch("org/affine-c", shas["c"])  # handed out: kept until the next fetch or evict
    for tag in "abc":
        assert cache.cached(f"org/affine-{tag}", shas[tag]) is not None
    assert cache.evict() >= 100 * KB
    assert cache.cached("org/affine-c", shas["c"]) is None  # the only one unpinned
    cache.pin([("org/affine-a", shas["a"])])
    assert cache.evict() >= 100 * KB
    assert cache.cached("org/affine-b", shas["b"]) is None
    assert cache.cached("org/affine-a", shas["a"]) is not None
    assert cache.usage() <= 150 * KB


def test_a_pair_larger_than_the_bound_is_refused_before_it_is_downloaded(
    hub: FakeHub, tmp_path: Path
) -> None:
    sha = hub.publish_files("org/affine-big", files("big", 300 * KB))
    cache = cache_for(hub, tmp_path, max_bytes=200 * KB)
    assert failure(cache, "org/affine-big", sha).reason == "too_large"
    assert hub.downloads_of("org/affine-big", "model.safetensors") == 0


@pytest.mark.parametrize("revision", ["main", "abc1234", "A" * 40])
def test_only_a_full_commit_sha_is_fetched(hub: FakeHub, tmp_path: Path, revision: str) -> None:
    hub.publish_files("org/affine-a", files("a"))
    assert failure(cache_for(hub, tmp_path), "org/affine-a", revision).reason == "not_full_sha"
    assert hub.seen == []


def test_a_repo_the_hub_does_not_show_us_is_not_visible(hub: FakeHub, tmp_path: Path) -> None:
    private = hub.publish_files("org/affine-private", files("p"))
    hub.private.add("org/affine-private")
    gated = hub.publish_files("org/affine-gated", files("g"))
    hub.gated["org/affine-gated"] = "manual"
    disabled = hub.publish_files("org/affine-off", files("o"))
    hub.disabled.add("org/affine-off")
    cache = cache_for(hub, tmp_path)
    assert failure(cache, "org/affine-private", private).detail == "repo not found or private"
    assert failure(cache, "org/affine-nowhere", "a" * 40).reason == "repo_not_visible"
    assert failure(cache, "org/affine-off", disabled).detail == "repo is disabled"
    gated_failure = failure(cache, "org/affine-gated", gated)
    assert gated_failure.reason == "repo_not_visible"
    assert "gated" in gated_failure.detail
    assert cache.usage() == 0
    assert partial_is_empty(tmp_path)


def test_a_missing_revision_is_named(hub: FakeHub, tmp_path: Path) -> None:
    hub.publish_files("org/affine-a", files("a"))
    assert failure(cache_for(hub, tmp_path), "org/affine-a", "b" * 40).reason == (
        "revision_not_found"
    )


def test_the_token_and_endpoint_come_from_the_environment_when_not_given(
    hub: FakeHub, tmp_path: Path
) -> None:
    sha = hub.publish_files("org/affine-private", files("p"))
    hub.private.add("org/affine-private")
    environ = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_secret"}
    cache = ModelCache(tmp_path, 10 * 1024 * KB, timeout=5.0, environ=environ)
    assert cache.endpoint == hub.url
    assert (cache.fetch("org/affine-private", sha) / "config.json").exists()
    assert {s.authorization for s in hub.seen} == {"Bearer hf_secret"}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_hub_in_trouble_is_unavailable_and_leaves_nothing(
    hub: FakeHub, tmp_path: Path, status: int
) -> None:
    sha = hub.publish_files("org/affine-a", files("a"))
    hub.faults["org/affine-a"] = Fault(status)
    cache = cache_for(hub, tmp_path)
    assert failure(cache, "org/affine-a", sha).reason == "hub_unavailable"
    assert cache.cached("org/affine-a", sha) is None
    assert partial_is_empty(tmp_path)
    del hub.faults["org/affine-a"]
    assert cache.fetch("org/affine-a", sha).is_dir()


def test_a_slow_hub_is_unavailable_after_the_timeout(hub: FakeHub, tmp_path: Path) -> None:
    sha = hub.publish_files("org/affine-a", files("a"))
    hub.delays["org/affine-a"] = 30.0
    cache = ModelCache(tmp_path, 10 * 1024 * KB, endpoint=hub.url, timeout=0.5)
    assert failure(cache, "org/affine-a", sha).reason == "hub_unavailable"
    assert "timed out" in failure(cache, "org/affine-a", sha).detail


def test_a_hub_that_refuses_connections_is_unavailable(tmp_path: Path) -> None:
    with FakeHub() as gone:
        url = gone.url
    cache = ModelCache(tmp_path, 10 * 1024 * KB, endpoint=url, timeout=2.0)
    assert failure(cache, "org/affine-a", "a" * 40).reason == "hub_unavailable"


def test_a_repo_deleted_mid_download_has_vanished_and_nothing_counts_as_cached(
    hub: FakeHub, tmp_path: Path
) -> None:
    sha = hub.publish_files("org/affine-a", files("a", 400 * KB))
    hub.vanish_during_download.add("org/affine-a")
    cache = cache_for(hub, tmp_path)
    assert failure(cache, "org/affine-a", sha).reason == "repo_vanished"
    assert cache.cached("org/affine-a", sha) is None
    assert cache.usage() == 0
    assert partial_is_empty(tmp_path)
    assert not any((tmp_path / "entries").iterdir())


def test_two_threads_fetching_one_pair_download_it_once(hub: FakeHub, tmp_path: Path) -> None:
    sha = hub.publish_files("org/affine-a", files("a"))
    cache = cache_for(hub, tmp_path)
    got: list[Path] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.fetch("org/affine-a", sha)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(got) == 4 and len(set(got)) == 1
    assert hub.downloads_of("org/affine-a", "model.safetensors") == 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB filesystem (tmpfs), so the disk really fills; mounting needs root."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.filterwarnings("ignore:Not enough free disk space")
def test_a_full_disk_is_named_and_leaves_no_half_written_files(
    hub: FakeHub, small_disk: Path
) -> None:
    sha = hub.publish_files("org/affine-big", files("big", 2 * 1024 * KB))
    small = hub.publish_files("org/affine-small", files("small", 50 * KB))
    cache = cache_for(hub, small_disk / "cache", max_bytes=100 * 1024 * KB)
    assert failure(cache, "org/affine-big", sha).reason == "disk_full"
    assert cache.usage() == 0
    assert partial_is_empty(small_disk / "cache")
    # The space the failed download took is back: a model that fits is fetched.
    assert (cache.fetch("org/affine-small", small) / "model.safetensors").exists()
    assert os.statvfs(small_disk).f_bfree > 0
