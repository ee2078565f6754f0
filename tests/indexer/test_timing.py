"""Stage timing records only inside ``recording()`` and adds repeated stages up."""

from __future__ import annotations

import threading
from contextvars import copy_context

from indexer.retrieval.timing import recording, stage


def test_stages_are_recorded_only_while_recording() -> None:
    with stage("encode"):  # nobody listening: nothing kept, nothing raised
        pass
    with recording() as record:
        with stage("keyword"):
            pass
        with stage("keyword"):
            pass
        with stage("dense"):
            pass
    assert set(record) == {"keyword", "dense"}
    assert all(seconds >= 0 for seconds in record.values())
    with recording() as other:
        pass
    assert other == {}


def test_a_stage_in_a_thread_given_the_context_lands_in_the_record() -> None:
    with recording() as record:
        context = copy_context()  # what Starlette's threadpool hands its worker

        def work() -> None:
            with stage("compose"):
                pass

        thread = threading.Thread(target=context.run, args=(work,))
        thread.start()
        thread.join()
    assert "compose" in record


def test_a_stage_that_raises_is_still_timed() -> None:
    with recording() as record:
        try:
            with stage("rerank"):
                raise ValueError("boom")
        except ValueError:
            pass
    assert "rerank" in record
