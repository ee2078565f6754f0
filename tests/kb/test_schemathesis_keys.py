"""schemathesis over every operation, writes included, against a server that requires keys for
reads and writes (over its own throw-away corpus and index): with a valid key every operation
conforms to its schema (positive and negative cases: no 5xx, documented statuses and bodies,
valid input accepted, invalid rejected); without a key every operation but /healthz and /readyz
answers the documented 401 (or, with a made-up key, 403) error body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode

from tests.kb import make_kb
from tests.kb.conftest import AUTH, launch, wait_ready
from tests.service.conftest import Server
from tests.service.schemathesis_run import run_operations, untyped_form_violation

WRITES = ("POST /v1/documents", "PUT /v1/documents/{doc_id}", "DELETE /v1/documents/{doc_id}")


@pytest.fixture(scope="module")
def keyed_server(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("keyed")
    server = launch(make_kb(index_dir, tmp / "kb"), tmp, ZHIWEN_READ_API_KEYS_REQUIRED="true")
    try:
        wait_ready(server)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def keyed_schema(keyed_server: Server) -> schemathesis.BaseSchema:
    # the document itself is public (it describes the API, not the reports)
    # Creating and deleting knowledge bases are left out: each random case would build and load an
    # index (slow, and state the other operations then see); tests/kb/test_knowledge_bases.py
    # covers their inputs and answers.
    schema = schemathesis.openapi.from_url(f"{keyed_server.url}/openapi.json", timeout=30)
    return schema.exclude(operation_id=["create_kb", "delete_kb"])


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_with_a_key_every_operation_conforms(
    keyed_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    run = run_operations(keyed_schema, mode, AUTH)
    for label in (*WRITES, "POST /v1/ask", "POST /v1/chat/completions", "GET /v1/index"):
        assert label in run.tested, run.tested
    assert not run.failures, "\n\n".join(run.failures)


# without a key these say only "up" / "ready" (README, Security)
OPEN = {"GET /healthz", "GET /readyz"}


def test_without_a_key_every_operation_is_refused(keyed_schema: schemathesis.BaseSchema) -> None:
    run = run_operations(keyed_schema, GenerationMode.POSITIVE)
    assert not run.failures, "\n\n".join(run.failures)
    for label, statuses in run.statuses.items():
        # 403: schemathesis sends a made-up bearer token where the schema declares one
        assert statuses <= ({200} if label in OPEN else {401, 403}), (label, statuses)
    assert set(run.tested) >= OPEN and len(run.tested) > len(OPEN)


def test_stateful_sequences_follow_the_links(
    keyed_server: Server, keyed_schema: schemathesis.BaseSchema
) -> None:
    """POST a report, then GET / PUT / DELETE it through the links its response declares: every
    step conforms (a created report is readable, replaceable and deletable by its doc_id)."""
    document = httpx.get(f"{keyed_server.url}/openapi.json", timeout=30).json()
    links = document["paths"]["/v1/documents"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {
        "get_document", "get_document_file", "put_document", "delete_document"
    }
    validate(document)  # every link names an operation that exists

    answered: set[tuple[str, int]] = set()

    # The original-file and chunk-preview routes (GET …/{doc_id}/file, …/chunks) are left out of
    # the sequences: schemathesis links them from the list and then only ever walks list → file
    # or chunks, never reaching the writes this test is about. The stateless runs cover them, and
    # tests/kb/test_formats_api.py and tests/web/test_admin_page.py their content.
    # Only the document operations: the others (FAQ, feedback, …) have no links, and a walk
    # through them rarely reaches the writes within the steps allowed.
    writes = keyed_schema.include(path_regex="^/v1/documents").exclude(
        operation_id=["get_document_file", "get_document_chunks"])

    class Machine(writes.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": AUTH, "timeout": 60}

        def before_call(self, case: schemathesis.Case) -> None:
            assume(not untyped_form_violation(case))  # (see tests/service/schemathesis_run.py)

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            answered.add((f"{case.method} {case.path}", response.status_code))

    Machine.run(
        settings=settings(
            max_examples=10,
            stateful_step_count=4,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    # the links were followed: a report created in a sequence was then found by its id
    followed = {call for call in answered if "{doc_id}" in call[0] and call[1] < 300}
    assert followed and ("POST /v1/documents", 201) in answered, sorted(answered)
