"""Schema-driven fuzzing: schemathesis generates valid and invalid requests for every operation
in the app's own spec and checks that none gets a 5xx and every response conforms to the spec.
Authenticated as a regulator (every scope), so the handlers behind the auth check are reached.

CI runs a fixed (derandomised) sample so a red run is reproducible and is about the change that
caused it; set BLOCKLIST_FUZZ_EXAMPLES to explore further with fresh random examples, e.g.
``BLOCKLIST_FUZZ_EXAMPLES=500 bash scripts/test.sh tests/test_fuzz_schemathesis.py``."""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from conftest import TEST_CONFIG
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from blocklist import create_app

# The spec comes from an app of its own (a throwaway in-memory database): the schema is the
# same for every database, and collection must not touch the test database.
schema = schemathesis.openapi.from_wsgi("/openapi.json", create_app({**TEST_CONFIG, "database_url": "sqlite://"}))


@pytest.fixture
def regulator_headers(auth):
    return auth.headers("regulator")


FUZZ_EXAMPLES = os.environ.get("BLOCKLIST_FUZZ_EXAMPLES")


@schema.parametrize()
@settings(
    max_examples=int(FUZZ_EXAMPLES or 25),
    derandomize=not FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx_or_breaks_its_schema(case, app, regulator_headers):
    response = case.call(app=app, headers=regulator_headers)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def _integer_query_parameters():
    spec = schema.raw_schema
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["schema"].get("type") == "integer":
                    yield method, path, parameter["name"]


INTEGER_QUERY_PARAMETERS = list(_integer_query_parameters())


def test_the_spec_has_integer_query_parameters_to_check():
    assert ("get", "/v1/entries", "reporter") in INTEGER_QUERY_PARAMETERS


@pytest.mark.parametrize("method,path,name", INTEGER_QUERY_PARAMETERS)
@pytest.mark.parametrize("number", [10**22, -(10**22), 2**63])
def test_every_integer_query_parameter_refuses_numbers_no_column_can_hold(
    client, regulator_headers, method, path, name, number
):
    """A number past any id column once reached the database driver and gave a 500 (found by
    the fuzzer above for `reporter`); every integer query parameter must refuse it up front."""
    path = re.sub(r"\{[^}]+\}", "1", path)  # query validation comes before any look-up
    response = client.open(path, method=method.upper(), headers=regulator_headers, query_string={name: str(number)})
    assert response.status_code == 422, (path, name, response.get_json())
    assert response.mimetype == "application/problem+json"
    assert name in response.get_json()["errors"]
