"""The bound on the hub client's answers holds where it is asked for, and only there."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import huggingface_hub
import pytest
from huggingface_hub.utils._http import default_client_factory

from tests.support.fake_hub import FakeHub, lfs_file
from throne.adapters.hub.bounded_answers import AnswerRefused, bounded_json_answers

# A listing of a few hundred files: some tens of kilobytes of model info.
FILES = [lfs_file(f"shard-{i:05}.safetensors", str(i).encode()) for i in range(300)]


@pytest.fixture
def fake() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub
    # What a test set stays in this test: the library's own factory again.
    huggingface_hub.set_client_factory(default_client_factory)


def model_info(fake: FakeHub, sha: str) -> huggingface_hub.ModelInfo:
    api = huggingface_hub.HfApi(endpoint=fake.url, token=False)
    return api.model_info("org/affine-big", revision=sha, files_metadata=True, timeout=5)


def test_inside_the_bound_a_long_answer_is_refused_and_outside_it_is_read(fake: FakeHub) -> None:
    sha = fake.publish("org/affine-big", FILES)
    with bounded_json_answers(10_000), pytest.raises(AnswerRefused, match="larger than 10000"):
        model_info(fake, sha)
    # Another use of the library in the process (a download, say) is not ours to bound.
    assert len(model_info(fake, sha).siblings or []) == len(FILES)
    with bounded_json_answers(1_000_000):
        assert len(model_info(fake, sha).siblings or []) == len(FILES)


def test_the_bound_comes_back_after_another_client_factory_replaced_it(fake: FakeHub) -> None:
    sha = fake.publish("org/affine-big", FILES)
    with bounded_json_answers(10_000), pytest.raises(AnswerRefused):
        model_info(fake, sha)
    huggingface_hub.set_client_factory(lambda: httpx2.Client(follow_redirects=True))
    with bounded_json_answers(10_000), pytest.raises(AnswerRefused):
        model_info(fake, sha)


def test_the_bound_belongs_to_the_thread_that_asked_for_it(fake: FakeHub) -> None:
    import threading

    sha = fake.publish("org/affine-big", FILES)
    read: list[int] = []
    other = threading.Thread(target=lambda: read.append(len(model_info(fake, sha).siblings or [])))
    with bounded_json_answers(10_000):
        other.start()
        other.join(timeout=30)
    assert read == [len(FILES)]
