"""Driving schemathesis over every operation of a served OpenAPI document (used by
``tests/service/test_schemathesis.py`` and ``tests/kb/test_schemathesis_keys.py``).

Why not ``schemathesis.pytest.from_fixture`` + ``@schema.parametrize()``: the server only exists
once a session fixture has started it, which needs the lazy loader, and schemathesis 4.32's lazy
loader reads ``Function._nodeid``, which pytest 9 no longer has (AttributeError). So each
operation's documented Hypothesis strategy (``APIOperation.as_strategy``) is driven here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

# Bounded so a whole run stays well under two minutes on a 2-core machine.
MAX_EXAMPLES = 25


@dataclass
class Run:
    tested: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, set[int]] = field(default_factory=dict)


def untyped_form_violation(case: schemathesis.Case) -> bool:
    """A negative multipart case. Form fields are untyped text: a "type violation" of a part (a
    number or null where text is declared) arrives as text the route cannot tell from valid
    input. Such cases are left out; the invalid *values* of forms (no file, unknown fields, bad
    doc_id, binary or blank text) are covered by tests/kb/test_admin_api.py."""
    meta = case.meta
    negative = meta is not None and meta.generation.mode is GenerationMode.NEGATIVE
    return negative and case.media_type == "multipart/form-data"


def unsendable_query_violation(case: schemathesis.Case) -> bool:
    """A negative case with a query value that is a one-item list of a plain value: it is sent as
    ``?name=value``, the same bytes as the scalar, so a server cannot tell it from valid input
    (schemathesis calls it "array instead of string"; CI once drew ``corrected=[false]``, sent as
    ``corrected=false``). Lists of several values and invalid scalars are still sent and checked."""
    meta = case.meta
    if meta is None or meta.generation.mode is not GenerationMode.NEGATIVE:
        return False
    return any(isinstance(v, list) and len(v) == 1 and not isinstance(v[0], (list, dict))
               for v in (case.query or {}).values())


def _conformance_test(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    headers: Mapping[str, str],
    seen: set[int],
) -> Callable[[], None]:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,  # no .hypothesis/ folder in the work tree
        derandomize=True,  # the same cases on every run: CI cannot fail on a draw a local run never made
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    def run(case: schemathesis.Case) -> None:
        assume(not untyped_form_violation(case))
        assume(not unsendable_query_violation(case))
        response = case.call_and_validate(headers=dict(headers), timeout=60)
        seen.add(response.status_code)

    return run


def run_operations(
    schema: schemathesis.BaseSchema, mode: GenerationMode, headers: Mapping[str, str] | None = None
) -> Run:
    """Every operation of ``schema`` with ``mode`` cases and all default checks; failures are
    collected per operation (not just the first), with the status codes each one answered."""
    result = Run()
    for found in schema.get_all_operations():
        if not isinstance(found, schemathesis.core.result.Ok):
            result.failures.append(f"schema error: {found.err()}")
            continue
        operation = found.ok()
        result.tested.append(operation.label)
        seen = result.statuses.setdefault(operation.label, set())
        try:
            _conformance_test(operation, mode, headers or {}, seen)()
        except Unsatisfiable:
            # nothing in this operation can be made invalid (e.g. no parameters): nothing to test
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # collect every operation's failure, not just the first
            result.failures.append(f"{operation.label}:\n{exc}")
    return result
