"""Plumbing of the permission-matrix test: the world of records, clients per role, bodies, snapshots.

The expectations themselves (who gets which status where) live in ``tests/test_permission_matrix.py``;
this module only knows how to build the records of two sites, sign a role in, fill a URL and a body,
run one request safely and take before/after snapshots of a site.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts.models import Site
from apps.accounts.two_factor import two_factor_required
from apps.assessments.models import Assessment
from apps.assessments.services import blinding_set, enrollment_preview, episode_enroll
from apps.clinical import api_urls as clinical_api_urls
from apps.clinical.forms import PatientForm
from apps.clinical.models import (
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)
from apps.clinical.services import record_create
from apps.core.models import AuditChannel, AuditEntry
from apps.core.records import record_type_for, record_types
from apps.exports.models import ExportProject, ExportRequest
from apps.imports.models import ImportJob
from registry.csv_import import HEADER
from tests.apps.clinical.api_support import (
    RECORD_TYPES,
    RecordType,
    token_client_for,
    verified_session_client_for,
)
from tests.apps.validation.cohorts import contract_frame, stored_run_of_frame
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

ROLES = ("anonymous", "data_entry_a", "site_pi_a", "coordinator", "investigator", "admin")
SITE_STAFF = frozenset({"data_entry_a", "site_pi_a"})
REGISTRY_WIDE = frozenset({"coordinator", "admin"})
SITES = ("A", "B")
NO_SITE = "-"

SITE_B_NAME = "Zeta Hospital"  # distinctive, so its appearance in any body is a leak

#: Children first, so deleting one record never takes away another cell's target.
DELETE_ORDER = (FollowUp, ResponseAssessment, AdverseEvent, RechallengeEpisode, InitialCourse, Patient)


# --- The records of two sites ----------------------------------------------------------------------------


@dataclass
class Case:
    """A full case: patient, ICI-1, an irAE, a rechallenge episode, a response and a follow-up."""

    records: dict[type[Model], Model]

    @property
    def patient(self) -> Patient:
        return self.records[Patient]

    @property
    def episode(self) -> RechallengeEpisode:
        return self.records[RechallengeEpisode]


def make_case(site: Site, *, local_identifier: str, date_of_birth: dt.date) -> Case:
    """A case whose patient went through the audited service, so its history holds the identifiers."""
    patient = record_create(
        model=Patient,
        data={
            "site": site,
            "local_identifier": local_identifier,
            "sex": "female",
            "year_of_birth": date_of_birth.year,
            "date_of_birth": date_of_birth,
            "tumour_type": "LUAD",
            "consent_status": "consented",
            "consent_date": dt.date(2024, 1, 10),
        },
        user=None,
        channel=AuditChannel.SEED,
    )
    course = InitialCourseFactory(patient=patient)
    irae = AdverseEventFactory(patient=patient)
    episode = RechallengeEpisodeFactory(patient=patient, sequence_number=1)
    response = ResponseAssessmentFactory(episode=episode)
    follow_up = FollowUpFactory(episode=episode)
    return Case(
        records={
            Patient: patient,
            InitialCourse: course,
            AdverseEvent: irae,
            RechallengeEpisode: episode,
            ResponseAssessment: response,
            FollowUp: follow_up,
        }
    )


def make_import_job(site: Site, uploaded_by) -> ImportJob:
    """A failed job whose error report holds a local identifier (masked for everyone but the site)."""
    return ImportJob.objects.create(
        site=site,
        uploaded_by=uploaded_by,
        file=f"imports/{site.code}/matrix.csv",
        original_filename="matrix.csv",
        status=ImportJob.Status.FAILED,
        total_rows=1,
        processed_rows=1,
        error_count=1,
        message="Nothing was imported.",
        errors=[
            {
                "row": 2,
                "column": "local_identifier",
                "value": f"LOCAL-{site.code}-IMPORT",
                "message": "This local identifier is already used at the site.",
            }
        ],
    )


@dataclass
class World:
    """Everything the matrix acts on: two sites, a user per role and, per site, the records."""

    sites: dict[str, Site]
    users: dict[str, Any]  # role → user (None for anonymous)
    owners: dict[str, Any]  # site → a data-entry user of that site
    main: dict[str, Case]  # read, changed; its episode is enrolled by the web cells
    disposable: dict[str, Case]  # deleted
    bare: dict[str, Patient]  # no ICI-1 yet: the web "add ICI-1" form creates one
    course_only: dict[str, Patient]  # ICI-1 stopped, no episode: the web "add episode" form creates one
    import_jobs: dict[str, ImportJob]
    enrolled: dict[str, Assessment] = field(default_factory=dict)  # a second episode of the main patient
    transferable: dict[str, Patient] = field(default_factory=dict)  # moved to the other site by a transfer
    api_payloads: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # route → site → body
    validation_report: Any = None  # a finished validation run whose per-site rows name both sites
    exports: dict[str, Any] = field(default_factory=dict)  # the export project and its requests, by state
    queries: dict[str, dict[str, Any]] = field(default_factory=dict)  # queries: per site, data queries by state
    signoff: dict[str, dict[str, Any]] = field(default_factory=dict)  # sign-off: per site, cases and SDV marks


def build_world(*, site_a, site_b, users: dict[str, Any], owner_b) -> World:
    site_a.name, site_b.name = "Alpha Clinic", SITE_B_NAME
    site_a.save(update_fields=["name"])
    site_b.save(update_fields=["name"])
    sites = {"A": site_a, "B": site_b}
    owners = {"A": users["data_entry_a"], "B": owner_b}
    dobs = {
        "A": (dt.date(1957, 2, 13), dt.date(1955, 4, 21)),
        "B": (dt.date(1956, 11, 27), dt.date(1954, 9, 9)),
    }
    world = World(
        sites=sites,
        users=users,
        owners=owners,
        main={s: make_case(sites[s], local_identifier=f"LOCAL-{s}-MAIN", date_of_birth=dobs[s][0]) for s in SITES},
        disposable={
            s: make_case(sites[s], local_identifier=f"LOCAL-{s}-SPARE", date_of_birth=dobs[s][1]) for s in SITES
        },
        bare={s: PatientFactory(site=sites[s]) for s in SITES},
        course_only={s: InitialCourseFactory(patient__site=sites[s]).patient for s in SITES},
        import_jobs={s: make_import_job(sites[s], owners[s]) for s in SITES},
    )
    # Blinding on, and an enrolled episode per site whose locked category site staff must not see.
    blinding_set(blinded=True, user=users["coordinator"], reason="permission matrix", channel=AuditChannel.SEED)
    for s in SITES:
        episode = RechallengeEpisodeFactory(
            patient=world.main[s].patient, sequence_number=2, start_date=dt.date(2025, 3, 1)
        )
        world.enrolled[s] = episode_enroll(episode=episode, user=None, channel=AuditChannel.SEED)
    world.transferable = {s: PatientFactory(site=sites[s]) for s in SITES}
    # Create bodies make their parent records now, so the "before" snapshot already holds them.
    world.api_payloads = {rt.route: {s: rt.payload(sites[s]) for s in SITES} for rt in RECORD_TYPES}
    # Validation runs belong to no site, but their per-site rows must show center staff their own site only.
    world.validation_report = stored_run_of_frame(contract_frame([site_a.code, site_b.code]))
    world.exports = make_exports(investigator=users["investigator"], requester=users["investigator"])
    world.queries = {s: make_queries(world.main[s], coordinator=users["coordinator"], owner=owners[s]) for s in SITES}
    world.signoff = {s: make_signoff(sites[s], coordinator=users["coordinator"]) for s in SITES}  # sign-off
    return world


def make_exports(*, investigator, requester) -> dict[str, Any]:
    """An export project of which the investigator is a member, with requests waiting (two), ready and expired.

    The ready bundle is a small file under ``EXPORTS_DIR`` (the matrix tests who reaches it, not its content).
    """
    project = ExportProject.objects.create(title="Matrix project", approval_reference="IRB-MATRIX")
    project.members.add(investigator)

    def request(status: str, **fields) -> ExportRequest:
        return ExportRequest.objects.create(
            project=project, requested_by=requester, datasets=["analysis"], formats=["csv"], status=status, **fields
        )

    bundle = b"PK matrix bundle"
    path = Path(settings.EXPORTS_DIR) / "matrix" / "bundle.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bundle)
    done = {
        "file_path": "matrix/bundle.zip",
        "sha256": hashlib.sha256(bundle).hexdigest(),
        "data_cut": timezone.now(),
        "file_size": len(bundle),
    }
    day = dt.timedelta(days=1)
    return {
        "project": project,
        "waiting": request(ExportRequest.Status.REQUESTED),
        "refusable": request(ExportRequest.Status.REQUESTED),
        "ready": request(ExportRequest.Status.READY, expires_at=timezone.now() + day, **done),
        "expired": request(ExportRequest.Status.READY, expires_at=timezone.now() - day, **done),
    }


# --- Queries (the Data Resolution Workflow) -----------------------------------------------------------------


# --- sign-off and source verification (issue #10 item 5) ---


def make_signoff(site: Site, *, coordinator) -> dict[str, Any]:
    """Per site: a complete case its site PI may sign ("signable"), a signed case ("signed") and two SDV marks on
    the signed case's patient, one read and one removed by the cells."""
    from apps.accounts.models import Role
    from apps.quality import signoff
    from apps.quality.models import SourceVerification
    from tests.apps.quality.signoff_support import complete_case
    from tests.factories import PASSWORD, user_with_role

    signer = user_with_role(Role.SITE_PI, site, username=f"matrix_pi_{site.code.lower()}")
    signable = complete_case(site).patient
    signed = complete_case(site).patient
    signoff.case_sign(patient=signed, user=signer, password=PASSWORD, channel=AuditChannel.SEED)

    def mark(name: str) -> SourceVerification:
        return SourceVerification.objects.create(
            site=site,
            patient=signed,
            record_type="patient",
            record_id=signed.pk,
            field=name,
            verified_by=coordinator,
            verified_at=timezone.now(),
        )

    return {"signable": signable, "signed": signed, "read_mark": mark("tumour_type"), "removable_mark": mark("sex")}


def make_queries(case: Case, *, coordinator, owner) -> dict[str, Any]:
    """Data queries on a site's main case, one per state a step needs: open (answered and commented on by the
    cells), answered (closed), closed (re-opened), one kept for coordinators, and one whose ``value_seen`` is the
    patient's date of birth (as a rule on that field would keep it: no coordinator may ever read it)."""
    from apps.quality import services as queries
    from apps.quality.models import DataQuery

    episode = case.episode

    def raised(message: str, **extra) -> Any:
        return queries.query_raise(
            user=coordinator,
            record_type="episode",
            record_id=episode.pk,
            field="ecog_at_rechallenge",
            message=message,
            channel=AuditChannel.SEED,
            **extra,
        )

    answered = raised("Matrix query waiting for the coordinator")
    queries.query_answer(query=answered, user=owner, text="Checked", channel=AuditChannel.SEED)
    closed = raised("Matrix query closed")
    queries.query_close(query=closed, user=coordinator, channel=AuditChannel.SEED)
    patient = case.patient
    identifier = DataQuery.objects.create(
        rule_id="required_missing",
        site_id=patient.site_id,
        patient=patient,
        record_type="patient",
        record_id=patient.pk,
        field="date_of_birth",
        message="Matrix query on the date of birth",
        value_seen=patient.date_of_birth.isoformat(),
        opened_at=timezone.now(),
    )
    return {
        "open": raised("Matrix query waiting for the site"),
        "answered": answered,
        "closed": closed,
        "hidden": raised("Matrix query for coordinators only", coordinators_only=True),
        "identifier": identifier,
    }


# --- Signing in ---------------------------------------------------------------------------------------------


def _verify_second_factor(client: Client, user) -> None:
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="matrix phone", defaults={"confirmed": True})
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def page_client(user) -> Client:
    """A browser session; registry-wide roles also confirm their second factor."""
    client = Client()
    if user is not None:
        client.force_login(user)
        if two_factor_required(user):
            _verify_second_factor(client, user)
    return client


def api_client(role: str, user) -> APIClient:
    """Data entry pushes with a token (a center system), the site PI with a session, registry-wide roles
    with a session whose second factor is verified (tokens are refused for them)."""
    if user is None:
        return APIClient()
    if role == "data_entry_a":
        return token_client_for(user)
    if two_factor_required(user):
        return verified_session_client_for(user)
    client = APIClient()
    client.force_login(user)
    return client


# --- Bodies -----------------------------------------------------------------------------------------------


def current_version(instance: Model) -> int:
    return type(instance).objects.values_list("version", flat=True).get(pk=instance.pk)


def if_match_current(instance: Model) -> dict[str, str]:
    return {"HTTP_IF_MATCH": f'"{current_version(instance)}"'}


@dataclass(frozen=True)
class RecordRoute:
    """One record endpoint of the API, read from the router, with its test description."""

    route: str
    viewset: type
    record_type: RecordType | None

    @property
    def model(self) -> type[Model]:
        return self.viewset.scope_model

    @property
    def lookup_field(self) -> str:
        return self.viewset.lookup_field

    @property
    def schema_lookup(self) -> str:
        """The path parameter as drf-spectacular names it (``pk`` becomes ``id``)."""
        return "id" if self.lookup_field == "pk" else self.lookup_field

    def list_path(self) -> str:
        return f"/api/v1/{self.route}/"

    def detail_template(self) -> str:
        return f"/api/v1/{self.route}/{{{self.schema_lookup}}}/"

    def detail_url(self, instance: Model) -> str:
        return f"/api/v1/{self.route}/{getattr(instance, self.lookup_field)}/"


def record_routes() -> list[RecordRoute]:
    by_route = {rt.route: rt for rt in RECORD_TYPES}
    return [
        RecordRoute(route=prefix, viewset=viewset, record_type=by_route.get(prefix))
        for prefix, viewset, _ in clinical_api_urls.router.registry
    ]


def api_put_body(route: RecordRoute, instance: Model, user) -> dict[str, Any]:
    """A full, valid replacement as ``user`` would send it: the record's current writable values plus a change."""
    fresh = type(instance).objects.get(pk=instance.pk)
    serializer = route.viewset.input_serializer_class(fresh, context={"request": SimpleNamespace(user=user)})
    body = json.loads(json.dumps(serializer.data, default=str))
    body.update(route.record_type.change)
    return body


#: Web create forms (the browser's strings).
WEB_PATIENT = {
    "local_identifier": "LOCAL-WEB-NEW",
    "sex": "female",
    "year_of_birth": "1961",
    "tumour_type": "LUAD",
    "consent_status": "consented",
    "consent_date": "2024-03-01",
    "msi_status": "unknown",
}
WEB_INITIAL_COURSE = {
    "primary_agent": "pembrolizumab",
    "regimen_type": "monotherapy",
    "line_of_therapy": "1",
    "start_date": "2023-01-15",
    "start_date_precision": "day",
    "stop_date": "2023-10-15",
    "stop_date_precision": "day",
    "ecog_at_start": "1",
    "best_overall_response": "PR",
    "progression_date_precision": "day",
    "stop_reason": "toxicity",
}
WEB_ADVERSE_EVENT = {
    "episode": "",
    "ctcae_version": "5.0",
    "ctcae_term": "hepatitis",
    "grade": "3",
    "onset_date": "2023-05-01",
    "onset_date_precision": "day",
    "resolution_date": "2023-06-01",
    "resolution_date_precision": "day",
    "resolved_to_grade": "1",
    "management": "corticosteroids",
    "peak_prednisone_mg_per_day": "60",
    "steroid_refractory": "no",
    "hospitalised": "yes",
    "led_to_discontinuation": "unknown",
}
WEB_EPISODE = {
    "sequence_number": "1",
    "start_date": "2024-05-02",
    "rechallenge_type": "after_toxicity",
    "agent_relation": "same_agent",
    "primary_agent": "pembrolizumab",
    "regimen_type": "monotherapy",
    "ecog_at_rechallenge": "1",
    "current_prednisone_mg_per_day": "0",
    "intervening_therapy": "none",
    "intervening_therapy_lines": "0",
}
WEB_RESPONSE = {"assessment_date": "2024-08-15", "criteria": "recist_1_1", "category": "PR"}
WEB_FOLLOW_UP = {"follow_up_date": "2024-11-01", "vital_status": "alive", "last_known_alive_date": "2024-11-01"}

#: One change per record type, as a browser sends it.
WEB_CHANGE: dict[type[Model], dict[str, str]] = {
    Patient: {"tumour_type": "SKCM"},
    InitialCourse: {"line_of_therapy": "2"},
    RechallengeEpisode: {"ecog_at_rechallenge": "2"},
    AdverseEvent: {"grade": "3"},
    ResponseAssessment: {"category": "PD"},
    FollowUp: {"last_known_alive_date": "2024-08-01"},
}


def web_edit_body(record: Model, user) -> dict[str, str]:
    """What a browser sends back from the edit form as ``user`` sees it, with one field changed."""
    fresh = type(record).objects.get(pk=record.pk)
    record_type = record_type_for(type(fresh))
    patient = record_type.patient_of(fresh)
    form_class = record_type.form
    kwargs: dict[str, Any] = {}
    if form_class is PatientForm:
        from apps.accounts.selectors import access_for_user

        kwargs = {"user": user, "show_identifiers": access_for_user(user).can_see_identifiers_of(patient.site_id)}
    elif type(fresh) is AdverseEvent:
        kwargs = {"episodes": RechallengeEpisode.objects.filter(patient=patient)}
    form = form_class(instance=fresh, **kwargs)
    data: dict[str, str] = {}
    for bound in form:
        value = bound.value()
        if isinstance(bound.field, forms.NullBooleanField):
            data[bound.name] = {True: "true", False: "false"}.get(value, "unknown")
        elif isinstance(bound.field, forms.BooleanField):
            if value:
                data[bound.name] = "on"
        else:
            data[bound.name] = "" if value is None else str(value)
    data.update(WEB_CHANGE[type(fresh)])
    data["version"] = str(fresh.version)
    data["reason"] = "permission matrix"
    return data


def confirmation(episode: RechallengeEpisode) -> dict[str, str]:
    """The enrollment page's confirmation: the fingerprint of the inputs it shows for the episode now."""
    return {"inputs_digest": enrollment_preview(episode=RechallengeEpisode.objects.get(pk=episode.pk)).digest}


def upload_file(local_identifier: str) -> SimpleUploadedFile:
    """A one-row import file: a patient with ICI-1 and one rechallenge episode."""
    row = {
        "local_identifier": local_identifier,
        "sex": "female",
        "year_of_birth": "1958",
        "tumour_type": "LUAD",
        "consent_status": "consented",
        "consent_date": "2024-01-10",
        "ici1_agent": "pembrolizumab",
        "ici1_regimen": "monotherapy",
        "ici1_line": "1",
        "ici1_start_date": "2022-03",
        "ici1_stop_date": "2022-11",
        "ici1_ecog": "1",
        "ici1_best_response": "PR",
        "ici1_stop_reason": "toxicity",
        "episode_start_date": "2023-04-02",
        "episode_type": "after_toxicity",
        "episode_agent_relation": "same_agent",
        "episode_agent": "pembrolizumab",
        "episode_regimen": "monotherapy",
        "episode_ecog": "1",
        "episode_prednisone": "0",
    }
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(HEADER), extrasaction="ignore")
    writer.writeheader()
    writer.writerow(row)
    return SimpleUploadedFile("matrix.csv", buffer.getvalue().encode(), content_type="text/csv")


# --- Pages of the URL map -----------------------------------------------------------------------------------

#: URL prefixes that are not pages of the registry (the API and its schema, the admin: tested separately).
NOT_PAGES = ("api/", "admin/")


@dataclass(frozen=True)
class PagePattern:
    route: str
    name: str | None
    params: tuple[str, ...]


def _params_of(pattern) -> tuple[str, ...]:
    converters = getattr(pattern, "converters", None)
    if converters:
        return tuple(converters)
    regex = getattr(pattern, "regex", None)
    return tuple(regex.groupindex) if regex is not None else ()


def _walk(resolver, prefix: str, namespace: str | None, params: tuple[str, ...]) -> Iterator[PagePattern]:
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        here = params + _params_of(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            yield from _walk(entry, route, f"{namespace}:{ns}" if namespace and ns else ns or namespace, here)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield PagePattern(route=route, name=name, params=here)


def page_patterns() -> list[PagePattern]:
    """Every URL pattern of the site that is a page: not the API, its schema or docs, nor the admin."""
    return [p for p in _walk(get_resolver(), "", None, ()) if not p.route.startswith(NOT_PAGES)]


def model_slugs() -> dict[str, type[Model]]:
    return {record_type.slug: record_type.model for record_type in record_types()}


# --- The schema -----------------------------------------------------------------------------------------------

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@cache
def _schema() -> dict[str, Any]:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.status_code
    return json.loads(response.content)


def schema_operations() -> tuple[tuple[str, str], ...]:
    """(METHOD, path) of every operation in the OpenAPI schema, as served at ``/api/schema/``."""
    paths = _schema()["paths"]
    return tuple(
        sorted((method.upper(), path) for path, item in paths.items() for method in item if method in HTTP_METHODS)
    )


def schema_query_parameters(method: str, path: str) -> tuple[str, ...]:
    """Names of the query parameters the schema documents for one operation."""
    operation = _schema()["paths"][path][method.lower()]
    return tuple(p["name"] for p in operation.get("parameters", []) if p.get("in") == "query")


# --- Snapshots of a site ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteState:
    versions: dict[tuple[str, int], int]
    identifiers: dict[int, tuple[str, str]]
    import_jobs: frozenset[int]
    assessments: int
    audit_entries: int


def site_state(site: Site) -> SiteState:
    versions = {}
    for record_type in record_types():
        rows = record_type.model.objects.filter(**{record_type.site_path: site.pk}).values_list("pk", "version")
        for pk, version in rows:
            versions[(record_type.model._meta.label_lower, pk)] = version
    return SiteState(
        versions=versions,
        identifiers={
            pk: (local, str(dob))
            for pk, local, dob in Patient.objects.filter(site=site).values_list(
                "pk", "local_identifier", "date_of_birth"
            )
        },
        import_jobs=frozenset(ImportJob.objects.filter(site=site).values_list("pk", flat=True)),
        assessments=Assessment.objects.filter(episode__patient__site=site).count(),
        audit_entries=AuditEntry.objects.filter(site=site).count(),
    )


def state_differences(before: SiteState, after: SiteState) -> list[str]:
    problems = []
    for key in sorted(set(before.versions) | set(after.versions)):
        old, new = before.versions.get(key), after.versions.get(key)
        if old != new:
            problems.append(f"{key[0]}#{key[1]}: version {old} → {new}")
    for pk in sorted(set(before.identifiers) & set(after.identifiers)):
        if before.identifiers[pk] != after.identifiers[pk]:
            problems.append(f"patient#{pk}: identifiers {before.identifiers[pk]} → {after.identifiers[pk]}")
    if before.import_jobs != after.import_jobs:
        problems.append(f"import jobs {sorted(before.import_jobs)} → {sorted(after.import_jobs)}")
    if before.assessments != after.assessments:
        problems.append(f"assessments {before.assessments} → {after.assessments}")
    if before.audit_entries != after.audit_entries:
        problems.append(f"audit entries {before.audit_entries} → {after.audit_entries}")
    return problems


def secrets_of(site: Site) -> dict[str, set[str]]:
    """Strings of a site that reveal its records or identify its patients."""
    patients = list(Patient.objects.filter(site=site).values_list("registry_id", "local_identifier", "date_of_birth"))
    job_values = {
        str(error.get("value"))
        for job in ImportJob.objects.filter(site=site)
        for error in job.errors
        if error.get("column") == "local_identifier" and error.get("value")
    }
    return {
        "registry_ids": {registry_id for registry_id, _, _ in patients},
        "identifiers": {local for _, local, _ in patients if local}
        | {dob.isoformat() for _, _, dob in patients if dob}
        | job_values,
        "job_urls": {job.get_absolute_url() for job in ImportJob.objects.filter(site=site)},
    }


# --- Running one request ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: int | None
    location: str = ""
    body: str = ""
    json: Any = None
    error: str = ""


def perform(send: Callable[[], Any]) -> Outcome:
    """Send a request; an exception the view raised is an outcome (a 5xx), not a crash of the matrix."""
    try:
        response = send()
    except Exception as error:  # a view that raises would answer 500 in production
        return Outcome(status=None, error=f"{type(error).__name__}: {error}"[:300])
    content = b"".join(response.streaming_content) if response.streaming else response.content
    body = content.decode("utf-8", errors="replace")
    parsed = None
    if response.get("Content-Type", "").startswith("application/json") and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    return Outcome(status=response.status_code, location=response.get("Location", ""), body=body, json=parsed)
