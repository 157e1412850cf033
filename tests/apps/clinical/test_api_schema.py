"""The OpenAPI schema documents every operation, its enums, ETag/If-Match and its error answers."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from registry import vocabularies as v
from tests.apps.clinical.api_support import RECORD_TYPES

ROUTES = [f"/api/v1/{kind.route}/" for kind in RECORD_TYPES]


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def _detail(schema: dict, route: str) -> dict:
    return next(ops for path, ops in schema["paths"].items() if path.startswith(route) and path != route)


def test_the_schema_validates_without_warnings(schema):
    assert schema["openapi"].startswith("3.")


@pytest.mark.parametrize("route", ROUTES)
def test_every_record_type_has_all_six_operations(schema, route):
    operations = set(schema["paths"][route]) | set(_detail(schema, route))
    assert operations == {"get", "post", "put", "patch", "delete"}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_every_write_to_a_record_requires_if_match_and_documents_412_and_428(schema, route, method):
    operation = _detail(schema, route)[method]
    if_match = next(p for p in operation["parameters"] if p["name"] == "If-Match")
    assert (if_match["in"], if_match["required"]) == ("header", True)
    assert {"401", "404", "412", "428"} <= set(operation["responses"])


@pytest.mark.parametrize("route", ROUTES)
def test_reads_and_writes_document_the_etag_header(schema, route):
    assert "ETag" in _detail(schema, route)["get"]["responses"]["200"]["headers"]
    assert "ETag" in schema["paths"][route]["post"]["responses"]["201"]["headers"]


@pytest.mark.parametrize("route", ROUTES)
def test_lists_document_401_and_403_and_page_size(schema, route):
    operation = schema["paths"][route]["get"]
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    assert "page_size" in {p["name"] for p in operation["parameters"]}


def test_enums_come_from_the_vocabularies(schema):
    enums = schema["components"]["schemas"]
    assert enums["TumourTypeEnum"]["enum"] == list(v.TUMOUR_TYPES.codes())
    assert enums["IciAgentEnum"]["enum"] == list(v.ICI_AGENTS.codes())


def test_identifiers_are_optional_in_the_patient_response(schema):
    patient = schema["components"]["schemas"]["Patient"]
    assert {"local_identifier", "date_of_birth"}.isdisjoint(patient["required"])
    assert "registry_id" in patient["required"]


def test_the_reason_is_write_only(schema):
    components = schema["components"]["schemas"]
    assert "reason" in components["PatientRequest"]["properties"]
    assert "reason" not in components["Patient"]["properties"]
