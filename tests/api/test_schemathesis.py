"""Property-based fuzzing of the whole OpenAPI document with schemathesis, as an
administrator and as an observer, against a real engine on loopback.

Every operation gets a few generated requests (bounded: the whole run takes
about two minutes at most); no response may be a server error or disagree
with the schema the document declares for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from chimera_engine.api.app import all_routes
from chimera_engine.api.openapi import document
from chimera_engine.security.permissions import Role
from tests.api.test_api_matrix import Server

EXAMPLES_PER_OPERATION = 15
BUDGET_S = 55.0  # per role
# ending the fuzzing session itself would only fuzz 401s from then on
SKIP = {("POST", "/api/auth/logout")}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("fuzz")) as srv:
        yield srv


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_dict(document(all_routes()))
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIP:
            operations.append(operation)
    return operations


def _fuzz(
    operation: Any,
    base_url: str,
    session: requests.Session,
    headers: dict[str, str],
    failures: list[str],
) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        response = case.call(base_url=base_url, session=session, headers=headers)
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except Exception as exc:  # collect every operation's failure, then report
            failures.append(f"{case.method} {case.path}: {str(exc)[:400]}")

    run()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OBSERVER])
def test_fuzz_whole_api(server: Server, role: Role) -> None:
    headers = server.credentials[role]
    failures: list[str] = []
    started = time.monotonic()
    operations = _operations()
    assert len(operations) > 30
    with requests.Session() as session:
        for operation in operations:
            if time.monotonic() - started > BUDGET_S:
                break

            _fuzz(operation, server.url, session, headers, failures)
    assert not failures, "\n".join(failures)
