"""Schemathesis fuzzes every operation of the OpenAPI schema as a signed-in site user.

The schema is the document ``/api/schema/`` serves, and every operation in it becomes one test item
(so a new endpoint is fuzzed without touching this file); the requests go to the in-process Django
application over WSGI and share the test's database connection and transaction. Each item runs
the coverage phase (boundary values, missing required headers, …) and 100 generated examples,
derandomized, with the checks of ``tests/schemathesis.toml``: no server error, documented status
code, content type, body schema and headers, 428 for a missing If-Match, and 405 with an Allow
header for a method the schema does not list. Under the ``smoke`` Hypothesis profile (see
``tests/generated.py``) each item generates 10 examples instead of 100; the coverage phase is the same.

The requests carry ``Authorization: Token …`` of a data-entry user of site AAA. Generated ids rarely
exist, so a deterministic share of the requests names a real record instead: one of the user's own
site (the request reaches validation, the services and the If-Match comparison) or one of site BBB
(which must answer 404). A share of the If-Match headers carries the record's current version, and
a share of the ``patient`` / ``episode`` / ``site`` references in bodies and filters names the own
site's records. Every example runs in a savepoint that is rolled back, so a write or a delete by one
example never changes what the next one finds.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings

from apps.accounts.models import Role
from tests.apps.clinical.api_support import EPISODES, INITIAL_COURSES, RECORD_TYPES, token_client_for
from tests.factories import PatientFactory, SiteFactory, api_token_key_for, user_with_role
from tests.generated import examples

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

MAX_EXAMPLES = examples(100)  # schemathesis.toml's 100 under the full profile, 10 under the smoke profile
IF_MATCH_METHODS = frozenset({"PUT", "PATCH", "DELETE"})
CONFIG = schemathesis.Config.from_path(Path(__file__).with_name("schemathesis.toml"))
CONFIG.projects.default.generation.update(max_examples=MAX_EXAMPLES)


def _openapi_document() -> dict[str, Any]:
    """The document ``/api/schema/`` serves (generated here: fetching it at import would need the database)."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


schema = schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG)
schema.app = get_wsgi_application()  # requests go to the in-process Django application over WSGI


@dataclass
class Record:
    """One record an example may name: the value of its path parameter and its current version."""

    key: str
    version: int | None = None


@dataclass
class World:
    """What the fuzzed requests may refer to: the user's token and records of two sites."""

    token: str
    own: dict[str, Record] = field(default_factory=dict)  # by route ("patients", …, "sites")
    other: dict[str, Record] = field(default_factory=dict)
    #: Per route: body and filter fields that name a record (patient, episode, site) → an own-site value.
    references: dict[str, dict[str, str | int]] = field(default_factory=dict)


@pytest.fixture
def world(db) -> World:
    own_site, other_site = SiteFactory(code="AAA", name="Site A"), SiteFactory(code="BBB", name="Site B")
    user = user_with_role(Role.DATA_ENTRY, own_site, username="fuzz_entry")
    world = World(token=api_token_key_for(user))
    for kind in RECORD_TYPES:
        for site, records in ((own_site, world.own), (other_site, world.other)):
            instance = kind.make(site)
            records[kind.route] = Record(str(getattr(instance, kind.lookup)), instance.version)
    world.own["sites"], world.other["sites"] = Record(own_site.code), Record(other_site.code)
    episode = EPISODES.make(own_site)
    shared = {"patient": episode.patient.registry_id, "episode": episode.pk, "site": own_site.code}
    world.references = {kind.route: shared for kind in RECORD_TYPES}
    # A patient has one initial course, so a new one needs a patient without.
    world.references[INITIAL_COURSES.route] = {**shared, "patient": PatientFactory(site=own_site).registry_id}
    return world


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Keep the test's database connection across requests, as Django's test client does.

    Django's WSGI handler closes "old" connections when a request starts and finishes; inside the
    test transaction that would close the connection the test data lives on.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def quiet_client_errors() -> Iterator[None]:
    """Most examples are refused (4xx); only server errors are worth a log line."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _share(case: schemathesis.Case, salt: str) -> int:
    """A number from 0 to 99 that depends only on the generated request, so runs repeat exactly."""
    drawn = repr((salt, case.method, case.path_parameters, sorted(case.query.items()), case.body))
    return zlib.crc32(drawn.encode("utf-8", "surrogatepass")) % 100


def _route(case: schemathesis.Case) -> str:
    return case.operation.path.removeprefix("/api/v1/").split("/", 1)[0]


def _aim(case: schemathesis.Case, world: World) -> bool:
    """Point part of the requests at real records; True when the path names another site's record."""
    names_other = False
    route = _route(case)
    if case.path_parameters and route in world.own:
        (name,) = case.path_parameters
        share = _share(case, "path")
        # Without its If-Match a write must answer 428, which only a record within reach can show: a
        # record of another site answers 404 before the headers are read.
        may_name_other = case.method.upper() not in IF_MATCH_METHODS or "If-Match" in case.headers
        if share < 50:
            case.path_parameters = {name: world.own[route].key}
            version = world.own[route].version
            if "If-Match" in case.headers and version is not None and _share(case, "if-match") < 60:
                headers = case.headers.copy()
                headers["If-Match"] = f'"{version}"'
                case.headers = headers
        elif share < 70 and may_name_other:
            case.path_parameters = {name: world.other[route].key}
            names_other = True
    references = world.references.get(route, {})
    if isinstance(case.body, dict) and _share(case, "body") < 60:
        mentioned = references.keys() & case.body.keys()
        if mentioned:
            case.body = {**case.body, **{name: references[name] for name in mentioned}}
    if case.query and _share(case, "query") < 50:
        mentioned = references.keys() & case.query.keys()
        if mentioned:
            case.query = {**case.query, **{name: str(references[name]) for name in mentioned}}
    return names_other


@dataclass
class Tally:
    """The generated examples one operation's test sent, and whether it failed."""

    operation: schemathesis.APIOperation | None = None
    generated: int = 0
    failed: bool = False


@pytest.fixture
def tally() -> Iterator[Tally]:
    """Afterwards, checks that the operation got its MAX_EXAMPLES generated examples (not cut short)."""
    tally = Tally()
    yield tally
    operation = tally.operation
    if operation is None or tally.failed:
        return
    # An operation without any input (GET /api/v1/decision-models/) is one request: Hypothesis stops
    # after it, as there is nothing else to generate; its other requests come from the coverage phase.
    takes_input = any(True for _ in operation.iter_parameters()) or bool(operation.body)
    assert tally.generated >= (MAX_EXAMPLES if takes_input else 1), f"{operation.label}: {tally.generated} examples"


@settings(
    deadline=None,  # a request's time varies with the machine; the examples' number is what counts
    # The world fixture is made once per operation on purpose: each example rolls its writes back.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@schema.parametrize()
@pytest.mark.usefixtures("in_process_requests", "quiet_client_errors")
def test_api_conforms_to_its_schema(case: schemathesis.Case, world: World, tally: Tally) -> None:
    tally.operation = case.operation
    names_other = _aim(case, world)
    try:
        with transaction.atomic():
            response = case.call_and_validate(headers={"Authorization": f"Token {world.token}"})
            transaction.set_rollback(True)
        if names_other and case.method.upper() == case.operation.method.upper():
            assert response.status_code == 404, f"{case.operation.label} reached a record of another site"
    except BaseException:
        tally.failed = True
        raise
    if case.meta is not None and case.meta.phase.name == "fuzzing":
        tally.generated += 1


def test_every_operation_is_fuzzed() -> None:
    """The fuzz test above covers the whole API, including the decision model and the sites."""
    labels = {operation.ok().label for operation in schema.get_all_operations()}
    expected = {"GET /api/v1/decision-models/", "POST /api/v1/decision-models/evaluate/"}
    expected |= {"GET /api/v1/sites/", "GET /api/v1/sites/{code}/"}
    for kind in RECORD_TYPES:
        detail = f"/api/v1/{kind.route}/{{{'registry_id' if kind.lookup == 'registry_id' else 'id'}}}/"
        expected |= {f"GET /api/v1/{kind.route}/", f"POST /api/v1/{kind.route}/"}
        expected |= {f"{method} {detail}" for method in ("GET", "PUT", "PATCH", "DELETE")}
    assert expected <= labels


def test_a_null_prior_irae_is_a_field_error_not_a_server_error(data_entry_a) -> None:
    """Found by the fuzzing: ``prior_iraes: [null]`` passed validation and failed in the service (500)."""
    body = {"pfs1_months": 3.0, "tfi_months": 6.0, "progressed_on_ici1": False, "ecog": 1, "prior_iraes": [None]}
    body |= {"stop_reason": None, "strategy": None}
    response = token_client_for(data_entry_a).post("/api/v1/decision-models/evaluate/", body, format="json")
    assert response.status_code == 400
    assert "prior_iraes" in response.json()
