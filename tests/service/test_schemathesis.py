"""Property-based API testing with schemathesis against the running server's /openapi.json.

Every operation gets positive and negative (schema-violating) requests, and all of
schemathesis' default checks run on each response: no 5xx, status codes, content types, headers
and bodies as documented, invalid input rejected and valid input accepted. Write endpoints, which
need an API key and would change the index, are left out.

Why not ``schemathesis.pytest.from_fixture`` + ``@schema.parametrize()``: the server only exists
once a session fixture has started it, which needs the lazy loader, and schemathesis 4.32's lazy
loader reads ``Function._nodeid``, which pytest 9 no longer has (AttributeError). So the test
drives each operation's documented Hypothesis strategy (``APIOperation.as_strategy``) itself.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.filters import HasAPIOperation

# Bounded so both modes together stay well under two minutes on a 2-core machine.
MAX_EXAMPLES = 25


def _needs_api_key(ctx: HasAPIOperation) -> bool:
    """Write endpoints declare a security requirement (reads are open by default)."""
    return bool(ctx.operation.definition.raw.get("security"))


@pytest.fixture(scope="session")
def api_schema(server_url: str) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json", timeout=30)
    return schema.exclude(_needs_api_key)


def _conformance_test(
    operation: schemathesis.APIOperation, mode: GenerationMode
) -> Callable[[], None]:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,  # no .hypothesis/ folder in the work tree
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(timeout=60)

    return run


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_api_conforms_to_its_schema(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    failures: list[str] = []
    tested: list[str] = []
    for result in api_schema.get_all_operations():
        if not isinstance(result, schemathesis.core.result.Ok):
            failures.append(f"schema error: {result.err()}")
            continue
        operation = result.ok()
        tested.append(operation.label)
        try:
            _conformance_test(operation, mode)()
        except Unsatisfiable:
            # nothing in this operation can be made invalid (e.g. no parameters): nothing to test
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}:\n{exc}")
    for label in ("POST /v1/search", "POST /v1/ask", "GET /v1/documents/{doc_id}"):
        assert label in tested, tested
    assert not failures, "\n\n".join(failures)
