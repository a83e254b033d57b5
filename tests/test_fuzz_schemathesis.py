"""Schema-driven fuzzing: schemathesis generates valid and invalid requests for every operation
in the app's own spec and runs every check it has (the CLI's ``--checks all``: no 5xx, status
codes, content types, headers and bodies as documented, invalid data rejected, required headers
required, unsupported methods refused, resources available after creation and gone after
deletion, auth not ignored), then a stateful phase that follows the spec's links (publish ->
get -> patch -> dispute -> resolve). Authenticated as a regulator (every scope), so the handlers
behind the auth check are reached.

One check is left out, the documented exception (README "Conformance"):
``positive_data_acceptance`` expects every schema-valid request to be accepted, and ours are
not by design: a value valid for its kind (a code has 3 to 20 digits, a range's prefix at least
3), an opaque cursor that must come from a previous page, ``since`` before ``until``, a
resident ID's check digit; no JSON Schema the generator reads can say these, and each is
refused with a 400/422 problem naming the field (tests/entries, tests/test_errors.py).

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
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from blocklist import create_app
from blocklist.db import db

# The spec comes from an app of its own (a throwaway in-memory database): the schema is the
# same for every database, and collection must not touch the test database.
schema = schemathesis.openapi.from_wsgi("/openapi.json", create_app({**TEST_CONFIG, "database_url": "sqlite://"}))


@pytest.fixture
def regulator_headers(auth):
    return auth.headers("regulator")


FUZZ_EXAMPLES = os.environ.get("BLOCKLIST_FUZZ_EXAMPLES")
EXCLUDED_CHECKS = [positive_data_acceptance]  # see the module docstring


@schema.parametrize()
@settings(
    max_examples=int(FUZZ_EXAMPLES or 25),
    derandomize=not FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx_or_breaks_its_schema(case, app, regulator_headers):
    response = case.call(app=app, headers=regulator_headers)
    case.validate_response(response, excluded_checks=EXCLUDED_CHECKS + _harness_exclusions(case))


def _harness_exclusions(case):
    """`ignored_auth` cannot judge an operation that also accepts HTTP Basic (the TAXII and
    export routes): it generates a Basic header for the case, the regulator's Bearer token this
    test sends replaces it, and the check then reads the 200 as a generated (invalid) credential
    accepted. Those routes' refusals of missing, wrong and under-scoped credentials, Basic and
    Bearer, are tested directly in tests/exports (test_taxii.py, test_files.py)."""
    schemes = {name for requirement in case.operation.definition.raw.get("security", []) for name in requirement}
    return [ignored_auth] if "clientBasic" in schemes else []


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


def test_the_spec_links_publish_to_get_patch_and_dispute():
    links = schema.raw_schema["paths"]["/v1/entries"]["post"]["responses"]["201"]["links"]
    assert {link["operationRef"].rsplit("/", 1)[1] for link in links.values()} == {"get", "patch", "post"}
    assert (
        "ResolveDispute"
        in schema.raw_schema["paths"]["/v1/entries/{entry_id}/disputes"]["post"]["responses"]["201"]["links"]
    )


# The stateful phase works on the entries and their disputes, where the spec's links are: the
# admin operations (suspend an org, revoke a client) would only cut the caller off mid-run, and
# the stateless phase above covers them.
STATEFUL = schema.include(path_regex=r"^/v1/(entries|disputes|lookup|check)")


def test_stateful_workflows_follow_the_links_with_every_check(app, regulator_headers):
    """Schemathesis' stateful phase: sequences of calls chained by the spec's links, each
    response validated with the same checks as above. Each sequence starts from the same
    database: it runs in a savepoint rolled back at its end, so Hypothesis can replay it."""

    class Workflow(STATEFUL.as_state_machine()):  # type: ignore[misc]
        def setup(self):
            with app.app_context():
                self.savepoint = db.session.get_bind().begin_nested()

        def teardown(self):
            with app.app_context():
                db.session.remove()
            self.savepoint.rollback()

        def get_call_kwargs(self, case):
            return {"app": app, "headers": regulator_headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=int(FUZZ_EXAMPLES or 30),
            stateful_step_count=8,
            derandomize=not FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
