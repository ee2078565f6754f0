"""Property-based API testing with schemathesis against the running server's /openapi.json.

Every operation gets positive and negative (schema-violating) requests, and all of
schemathesis' default checks run on each response: no 5xx, status codes, content types, headers
and bodies as documented, invalid input rejected and valid input accepted. Here reads are open
and write endpoints (which need a key) are left out; ``tests/kb/test_schemathesis_keys.py`` runs
every operation, writes included, against a server that requires keys, with and without one.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.filters import HasAPIOperation

from tests.service.schemathesis_run import run_operations


def _needs_api_key(ctx: HasAPIOperation) -> bool:
    """Write endpoints declare a security requirement (reads are open by default)."""
    return bool(ctx.operation.definition.raw.get("security"))


@pytest.fixture(scope="session")
def api_schema(server_url: str) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json", timeout=30)
    return schema.exclude(_needs_api_key)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_api_conforms_to_its_schema(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    run = run_operations(api_schema, mode)
    for label in ("POST /v1/search", "POST /v1/ask", "GET /v1/documents/{doc_id}"):
        assert label in run.tested, run.tested
    assert not run.failures, "\n\n".join(run.failures)


def test_the_openapi_document_is_valid(server_url: str) -> None:
    """openapi-spec-validator accepts the served document (OpenAPI 3.1), every $ref resolves."""
    document = httpx.get(f"{server_url}/openapi.json", timeout=30).json()
    validate(document)
