"""The permission matrix: every API operation of the schema and every page, for every role, at two sites.

Roles: anonymous, data entry at site A, site PI at site A, coordinator, investigator and administrator
(registry-wide roles with a verified second factor). Records: a full case at site A and one at site B
(patient, ICI-1, irAE, episode, response, follow-up), a spare case per site for deletions, and an
import job per site.

The operations come from the OpenAPI schema served at ``/api/schema/`` and the pages from Django's URL
resolver, so a new endpoint or page fails here until it has a row in the tables below. For every cell
the test asserts the expected status, no 5xx, and that the body reveals nothing the role may not see:
no registry ID, identifier, job or name of site B for site-A staff; no local identifier or date of
birth for coordinators and administrators; nothing record-level for investigators and strangers.
After all cells, the sites a role may not write must be exactly as before (versions, identifiers,
import jobs, assessments, audit entries), and no audit entry may name the role's user on a site-B record.

Blinding is on and one episode per site is enrolled: center staff must not see its locked category on
the patient page or in the episode's history. Registry-wide roles without a verified second factor
reach nothing (their own test).

One test per role and surface; each collects every wrong cell and reports them together.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from django.urls import NoReverseMatch, reverse

from apps.accounts.two_factor import two_factor_required
from apps.clinical.models import (
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)
from apps.core.models import AuditEntry
from tests.permission_matrix_support import (
    DELETE_ORDER,
    NO_SITE,
    REGISTRY_WIDE,
    ROLES,
    SITE_B_NAME,
    SITE_STAFF,
    SITES,
    WEB_ADVERSE_EVENT,
    WEB_EPISODE,
    WEB_FOLLOW_UP,
    WEB_INITIAL_COURSE,
    WEB_PATIENT,
    WEB_RESPONSE,
    Outcome,
    PagePattern,
    RecordRoute,
    World,
    api_client,
    api_put_body,
    build_world,
    confirmation,
    if_match_current,
    model_slugs,
    page_client,
    page_patterns,
    perform,
    record_routes,
    schema_operations,
    schema_query_parameters,
    secrets_of,
    site_state,
    state_differences,
    upload_file,
    web_edit_body,
)

# --- Expected statuses ------------------------------------------------------------------------------------
#
# ``expect(anonymous, site staff, coordinator & admin, investigator)``; a pair is (site A, site B).
# LOGIN is a 302 to the sign-in page, ADMIN_LOGIN a 302 to the admin's, 302 any other redirect.

LOGIN = "302→login"
ADMIN_LOGIN = "302→admin login"
TWO_FACTOR = "302→two-factor"

Expected = int | str
PerSite = Expected | tuple[Expected, Expected]


def expect(anonymous: PerSite, staff: PerSite, registry_wide: PerSite, investigator: PerSite) -> dict[str, PerSite]:
    return {
        "anonymous": anonymous,
        "data_entry_a": staff,
        "site_pi_a": staff,
        "coordinator": registry_wide,
        "admin": registry_wide,
        "investigator": investigator,
    }


def expected_for(table: dict[str, PerSite], role: str, site: str) -> Expected:
    value = table[role]
    if isinstance(value, tuple):
        return value[SITES.index(site)]
    return value


# API: record endpoints (one row per action, for every route of the clinical router) ...
RECORD_API = {
    "list": expect(401, 200, 200, 403),
    "create": expect(401, (201, 400), 201, 403),  # B: the parent (or site) is not among the user's → 400
    "retrieve": expect(401, (200, 404), 200, 404),
    "update": expect(401, (200, 404), 200, 404),
    "partial_update": expect(401, (200, 404), 200, 404),
    "destroy": expect(401, (204, 404), 204, 404),
    # PATCH of a site-A record naming a site-B parent (or site): moving it into B.
    "move": expect(401, 400, 200, 404),
}
#: Patients are registered by their site's staff only: coordinators and administrators get 403.
PATIENT_CREATE = expect(401, (201, 400), 403, 403)
#: A patient's site changes only by a transfer, an enrolled episode never changes patient: 400 for everyone.
MOVE_REFUSED = expect(401, 400, 400, 404)
RECORD_ACTIONS = {  # (method, detail?) → action
    ("GET", False): "list",
    ("POST", False): "create",
    ("GET", True): "retrieve",
    ("PUT", True): "update",
    ("PATCH", True): "partial_update",
    ("DELETE", True): "destroy",
}
TRANSFER = "/api/v1/patients/{registry_id}/transfer/"
VALIDATION_RUNS = "/api/v1/validation-runs/"
VALIDATION_RUN = "/api/v1/validation-runs/{id}/"
EXPORTS = "/api/v1/exports/"
EXPORT = "/api/v1/exports/{id}/"
# ... and every other operation by name.
OTHER_API = {
    ("GET", "/api/v1/sites/"): expect(401, 200, 200, 200),  # lists only the sites one may read
    ("GET", "/api/v1/sites/{code}/"): expect(401, (200, 404), 200, 404),
    ("GET", "/api/v1/decision-models/"): expect(401, 200, 200, 200),
    # Blinding is on in the world: closed to center staff (BLINDING_CLOSES_CALCULATOR).
    ("POST", "/api/v1/decision-models/evaluate/"): expect(401, 403, 200, 200),
    # Enrolling the main episode (it has a response and a follow-up: locked as retrospective).
    ("POST", "/api/v1/episodes/{id}/enroll/"): expect(401, (201, 404), 201, 404),
    ("GET", "/api/v1/assessments/"): expect(401, 200, 200, 403),
    ("GET", "/api/v1/assessments/{id}/"): expect(401, (200, 404), 200, 404),
    # Moving a patient of the site to the other site (with If-Match and a reason).
    ("POST", TRANSFER): expect(401, (403, 404), 200, 404),  # coordinators and administrators only
    # Validation runs belong to no site: everyone with a role reads them (center staff see only their own site's
    # per-site rows, checked below); only coordinators and administrators start one (202, pending).
    ("GET", VALIDATION_RUNS): expect(401, 200, 200, 200),
    ("GET", VALIDATION_RUN): expect(401, 200, 200, 200),
    ("POST", VALIDATION_RUNS): expect(401, 403, 202, 403),
    # Exports belong to no site: investigators ask and download (their projects'); coordinators and administrators
    # read every request and decide, but take no data out; center staff reach nothing.
    ("GET", EXPORTS): expect(401, 403, 200, 200),
    ("POST", EXPORTS): expect(401, 403, 403, 201),
    ("GET", EXPORT): expect(401, 404, 200, 200),
    ("POST", EXPORT + "approve/"): expect(401, 403, 200, 403),
    ("POST", EXPORT + "refuse/"): expect(401, 403, 200, 403),
    ("GET", EXPORT + "download/"): expect(401, 403, 403, 200),
}
#: Downloading a bundle whose link has expired.
EXPORT_EXPIRED = expect(401, 403, 403, 410)

# --- queries (the Data Resolution Workflow): API rows ---
# Center staff list and read their sites' queries and answer them; coordinators and administrators read every
# query, raise, close and re-open; everyone who sees a query comments. The role is judged first (403), then the
# query's reach (404). Investigators reach no query.
QUERIES = "/api/v1/queries/"
QUERY = "/api/v1/queries/{id}/"
OTHER_API |= {
    ("GET", QUERIES): expect(401, 200, 200, 403),
    ("POST", QUERIES): expect(401, 403, 201, 403),  # raising: coordinators and administrators only
    ("GET", QUERY): expect(401, (200, 404), 200, 404),
    ("POST", QUERY + "answer/"): expect(401, (200, 404), 403, 403),  # the site's staff only
    ("POST", QUERY + "close/"): expect(401, 403, 200, 403),
    ("POST", QUERY + "reopen/"): expect(401, 403, 200, 403),
    ("POST", QUERY + "comment/"): expect(401, (200, 404), 200, 404),
}
#: A query of site A kept for coordinators: out of center staff's reach.
QUERY_HIDDEN = expect(401, 404, 200, 404)
#: Enrolling the episode the world enrolled already.
ENROLL_AGAIN = expect(401, (409, 404), 409, 404)

RECORD_PAGE = expect(LOGIN, (200, 404), 200, 403)
RECORD_WRITE = expect(LOGIN, (302, 404), 302, 403)

# Pages, GET, by URL name.
PAGE_GET: dict[str, dict[str, PerSite]] = {
    "home": expect(LOGIN, 200, 200, 200),
    "health": expect(200, 200, 200, 200),
    "accounts:login": expect(200, 200, 200, 200),
    "accounts:logout": expect(405, 405, 405, 405),  # sign-out is POST only
    "accounts:two-factor": expect(LOGIN, 200, 200, 200),
    # Everyone reads their own tokens; coordinators and investigators are told why they get none.
    "accounts:api-tokens": expect(LOGIN, 200, 200, 200),
    "accounts:api-token-revoke": expect(LOGIN, 405, 405, 405),  # POST only
    "clinical:patient-list": expect(LOGIN, 200, 200, 403),
    "clinical:patient-create": expect(LOGIN, 200, 403, 403),  # patients are registered by center staff
    "clinical:record-history": RECORD_PAGE,
    "clinical:record-edit": RECORD_PAGE,
    "clinical:record-delete": RECORD_PAGE,
    "clinical:episode-detail": expect(LOGIN, (302, 404), 302, 403),  # redirects to the patient page
    "clinical:response-create": RECORD_PAGE,
    "clinical:follow-up-create": RECORD_PAGE,
    "clinical:patient-detail": RECORD_PAGE,
    "clinical:initial-course-create": expect(LOGIN, (302, 404), 302, 403),  # has ICI-1 already → its edit form
    "clinical:adverse-event-create": RECORD_PAGE,
    "clinical:episode-create": RECORD_PAGE,
    "clinical:patient-transfer": expect(LOGIN, (403, 404), 200, 403),  # coordinators and administrators only
    "assessments:calculator": expect(LOGIN, 403, 200, 200),  # blinded: closed to center staff
    "assessments:episode-enroll": expect(LOGIN, (200, 404), 200, 404),  # the confirmation page
    "assessments:blinding": expect(LOGIN, 403, 200, 403),
    "imports:index": expect(LOGIN, 200, 200, 403),
    "imports:template": expect(LOGIN, (200, 404), 200, 403),
    "imports:upload": expect(LOGIN, 200, 403, 403),  # an import registers patients: the site's staff only
    "imports:job-detail": expect(LOGIN, (200, 404), 200, 403),
    "imports:job-errors": expect(LOGIN, (200, 404), 200, 403),
    "imports:job-confirm": expect(LOGIN, 405, 405, 405),  # "Import this file" after a preview: POST only
    # Validation reports: every role reads them (center staff without other sites' rows); run now is POST only.
    "validation:run-list": expect(LOGIN, 200, 200, 200),
    "validation:run-create": expect(LOGIN, 405, 405, 405),
    "validation:run-detail": expect(LOGIN, 200, 200, 200),
    "validation:run-figure": expect(LOGIN, 200, 200, 200),
    # Exports: investigators (their projects) and coordinators; asking and downloading for investigators only.
    "exports:index": expect(LOGIN, 403, 200, 200),
    "exports:queue": expect(LOGIN, 403, 200, 403),
    "exports:project-detail": expect(LOGIN, 403, 200, 200),
    "exports:request-create": expect(LOGIN, 403, 403, 200),
    "exports:request-detail": expect(LOGIN, 403, 200, 200),
    "exports:request-decide": expect(LOGIN, 405, 405, 405),  # POST only
    "exports:request-download": expect(LOGIN, 403, 403, 200),
}
#: The download page of a bundle whose link has expired.
EXPORT_PAGE_EXPIRED = expect(LOGIN, 403, 403, 410)

# --- export projects and their members (issue #12: coordinators create projects, add/remove investigators) ---
PAGE_GET |= {
    "exports:project-create": expect(LOGIN, 403, 200, 403),
    "exports:project-members": expect(LOGIN, 403, 200, 403),
}
# --- end of the export projects' page rows ---

# --- queries (the Data Resolution Workflow): page rows ---
QUERY_STEPS = ("quality:query-answer", "quality:query-close", "quality:query-reopen", "quality:query-comment")
PAGE_GET |= {
    "quality:query-list": expect(LOGIN, 200, 200, 403),
    "quality:query-detail": expect(LOGIN, (200, 404), 200, 403),
    "quality:query-raise": expect(LOGIN, 403, 200, 403),  # coordinators and administrators, on any record
    **{name: expect(LOGIN, 405, 405, 405) for name in QUERY_STEPS},  # POST only
}

# Pages that take no POST of clinical data: read-only, or the sign-in flow (tested in accounts).
READ_ONLY_PAGES = frozenset(
    {
        "home",
        "health",
        "accounts:login",
        "accounts:logout",
        "accounts:two-factor",
        "accounts:api-tokens",  # personal API tokens, no clinical data (tested in accounts)
        "accounts:api-token-revoke",
        "clinical:patient-list",
        "clinical:patient-detail",
        "clinical:record-history",
        "clinical:episode-detail",
        "assessments:calculator",
        "imports:index",
        "imports:template",
        "imports:job-detail",
        "imports:job-errors",
        "validation:run-list",
        "validation:run-detail",
        "validation:run-figure",
        "exports:index",
        "exports:queue",
        "exports:project-detail",
        "exports:request-detail",
        "exports:request-download",
    }
)
READ_ONLY_PAGES |= {"quality:query-list", "quality:query-detail"}  # queries

# --- dashboard (data quality figures per site, and the records behind each): page rows ---
PAGE_GET |= {
    "quality:dashboard": expect(LOGIN, 200, 200, 403),
    # every figure's records (all the user's sites); ``?site=`` naming site B is 404 for site-A staff (below)
    "quality:drilldown": expect(LOGIN, 200, 200, 403),
}
READ_ONLY_PAGES |= {"quality:dashboard", "quality:drilldown"}
DRILLDOWN_OF_SITE = expect(LOGIN, (200, 404), 200, 403)


def _drilldown_metrics() -> list[str]:
    from apps.quality.dashboard import DRILLDOWNS

    return list(DRILLDOWNS)


def _drilldown_site_cells(world: World) -> list[Cell]:
    """Each figure's records at one site: ``?site=`` of site A, then of site B (404 for site-A staff); the patients
    of the named site are listed for whoever may read them."""
    cells = []
    for site in SITES:
        code = world.sites[site].code
        registry_id = world.main[site].patient.registry_id

        def check(role: str, outcome: Outcome, registry_id=registry_id) -> list[str]:
            if outcome.status != 200 or registry_id in outcome.body:
                return []
            return [f"{registry_id} missing from its site's patients"]

        for metric in _drilldown_metrics():
            url = f"{reverse('quality:drilldown', args=[metric])}?{urlencode({'site': code})}"
            cells.append(
                Cell(
                    "page",
                    "GET",
                    "quality:drilldown?site=",
                    site,
                    DRILLDOWN_OF_SITE,
                    url=url,
                    target=metric,
                    check=check if metric == "patients" else None,
                )
            )
    return cells


# --- end of the dashboard's rows ---

# Pages, POST with a valid body, by URL name.
PAGE_POST: dict[str, dict[str, PerSite]] = {
    # B: the site is not a choice of the form → the form comes back with the error.
    "clinical:patient-create": expect(LOGIN, (302, 200), 403, 403),
    "clinical:initial-course-create": RECORD_WRITE,
    "clinical:adverse-event-create": RECORD_WRITE,
    "clinical:episode-create": RECORD_WRITE,
    "clinical:response-create": RECORD_WRITE,
    "clinical:follow-up-create": RECORD_WRITE,
    "clinical:record-edit": RECORD_WRITE,
    "clinical:record-delete": RECORD_WRITE,
    "assessments:episode-enroll": expect(LOGIN, (302, 404), 302, 404),
    "assessments:blinding": expect(LOGIN, 403, 302, 403),
    "imports:upload": expect(LOGIN, (302, 200), 403, 403),  # B: not a choice of the form
    # Only the uploader (site A's: data_entry_a) imports their preview; the world's job is no preview: nothing to do.
    "imports:job-confirm": {**expect(LOGIN, (403, 404), 403, 403), "data_entry_a": (302, 404)},
    "clinical:patient-transfer": expect(LOGIN, (403, 404), 302, 403),
    "validation:run-create": expect(LOGIN, 403, 302, 403),  # run now: coordinators and administrators only
    "exports:request-create": expect(LOGIN, 403, 403, 302),
    "exports:request-decide": expect(LOGIN, 403, 302, 403),
}
# --- queries (the Data Resolution Workflow): page writes ---
PAGE_POST |= {
    "quality:query-raise": expect(LOGIN, 403, 302, 403),
    "quality:query-answer": expect(LOGIN, (302, 404), 403, 403),  # the site's staff only
    "quality:query-close": expect(LOGIN, 403, 302, 403),
    "quality:query-reopen": expect(LOGIN, 403, 302, 403),
    "quality:query-comment": expect(LOGIN, (302, 404), 302, 403),
}
# --- export projects and their members (issue #12): page writes; a fresh investigator is added per role ---
PAGE_POST |= {
    "exports:project-create": expect(LOGIN, 403, 302, 403),
    "exports:project-members": expect(LOGIN, 403, 302, 403),
}
# --- end of the export projects' page writes ---

# --- sign-off and source verification (issue #10 item 5): rows ---
# Only the site PI of the patient's site signs (data entry of that site: 403; registry-wide roles: 403); only
# coordinators and administrators unlock and mark records source-data-verified. Within reach the role is judged
# (403); out of reach 404. Cases: the world's "signable" (complete) and "signed" case per site (``make_signoff``).
CASE_STATUS = "/api/v1/patients/{registry_id}/case-status/"
CASE_SIGN = "/api/v1/patients/{registry_id}/sign/"
CASE_UNLOCK = "/api/v1/patients/{registry_id}/unlock/"
SDV_LIST = "/api/v1/source-verifications/"
SDV_MARK = "/api/v1/source-verifications/{id}/"


def site_pi_only(anonymous: Expected, pi_a: PerSite, entry_a: PerSite, registry_wide: Expected, investigator: Expected):
    """Expectations of a step only the site PI of the patient's site takes."""
    return {
        "anonymous": anonymous,
        "data_entry_a": entry_a,
        "site_pi_a": pi_a,
        "coordinator": registry_wide,
        "admin": registry_wide,
        "investigator": investigator,
    }


OTHER_API |= {
    ("GET", CASE_STATUS): expect(401, (200, 404), 200, 404),
    ("POST", CASE_SIGN): site_pi_only(401, (200, 404), (403, 404), 403, 404),
    ("POST", CASE_UNLOCK): expect(401, (403, 404), 200, 404),
    ("GET", SDV_LIST): expect(401, 200, 200, 403),
    ("POST", SDV_LIST): expect(401, 403, 201, 403),
    ("GET", SDV_MARK): expect(401, (200, 404), 200, 404),
    ("DELETE", SDV_MARK): expect(401, 403, 204, 403),
}
PAGE_GET |= {
    # The main case is not complete: the site PI reads why it cannot be signed yet (200).
    "quality:case-sign": site_pi_only(LOGIN, (200, 404), (403, 404), 403, 403),
    "quality:case-unlock": expect(LOGIN, (403, 404), 200, 403),
    "quality:case-verify": expect(LOGIN, (403, 404), 200, 403),
}
PAGE_POST |= {
    "quality:case-sign": site_pi_only(LOGIN, (302, 404), (403, 404), 403, 403),
    "quality:case-unlock": expect(LOGIN, (403, 404), 302, 403),
    "quality:case-verify": expect(LOGIN, (403, 404), 302, 403),
}

ADMIN_PAGES = {
    "/admin/": {**expect(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN), "admin": 200},
    "/admin/clinical/patient/": {**expect(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN), "admin": 200},
}

EVALUATE_BODY = {
    "pfs1_months": 14.0,
    "tfi_months": 4.2,
    "progressed_on_ici1": False,
    "ecog": 1,
    "prior_iraes": [{"ctcae_term": "colitis", "grade": 2, "resolved_to_grade": 0, "steroid_refractory": False}],
    "current_prednisone_mg_per_day": 0,
    "stop_reason": "toxicity",
    "strategy": "ici_chemotherapy",
}


# --- Cells ------------------------------------------------------------------------------------------------

READ, CREATE, CHANGE, DELETE = range(4)  # phases: deletions last, children before parents


@dataclass
class Cell:
    surface: str  # api | page | admin
    method: str
    template: str  # schema path or URL name
    site: str
    expectation: dict[str, PerSite]
    url: str | Callable[[], str] = ""
    target: str = ""
    body: Callable[[str], Any] | None = None  # role → body
    headers: Callable[[], dict[str, str]] | None = None
    check: Callable[[str, Outcome], list[str]] | None = None  # role, outcome → problems
    phase: int = READ
    rank: int = 0

    def __str__(self) -> str:
        target = f" {self.target}" if self.target else ""
        return f"{self.surface} {self.method} {self.template} [{self.site}{target}]"


class Matrix:
    """The cells of one surface, plus the problems found while building them (unmapped operations...)."""

    def __init__(self) -> None:
        self.cells: list[Cell] = []
        self.unmapped: list[str] = []


def _delete_rank(model) -> int:
    return DELETE_ORDER.index(model) if model in DELETE_ORDER else len(DELETE_ORDER)


# --- API cells --------------------------------------------------------------------------------------------


def _record_lookup_key(route: RecordRoute) -> str:
    return "registry_id" if route.lookup_field == "registry_id" else "id"


def _api_list_check(world: World, route: RecordRoute) -> Callable[[str, Outcome], list[str]]:
    key = _record_lookup_key(route)

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200:
            return []
        rows = outcome.json.get("results") if isinstance(outcome.json, dict) else None
        if not isinstance(rows, list):
            return ["a list answered without results"]
        seen = {row.get(key) for row in rows}
        main = {site: getattr(world.main[site].records[route.model], route.lookup_field) for site in SITES}
        problems = []
        if role in SITE_STAFF:
            foreign = [row.get(key) for row in rows if row.get("site") != world.sites["A"].code]
            if foreign:
                problems.append(f"foreign or site-less rows listed: {foreign}")
            if main["A"] not in seen:
                problems.append("own site's record missing from the list")
        if role in REGISTRY_WIDE:
            if not {main["A"], main["B"]} <= seen:
                problems.append("a coordinator's list lacks a site's record")
            leaked = [row.get(key) for row in rows if {"local_identifier", "date_of_birth"} & set(row)]
            if leaked:
                problems.append(f"identifier fields in rows {leaked}")
        return problems

    return check


def _api_detail_check(route: RecordRoute, site: str) -> Callable[[str, Outcome], list[str]]:
    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status not in (200, 201) or not isinstance(outcome.json, dict):
            return []
        if route.model is Patient and role in REGISTRY_WIDE:
            shown = {"local_identifier", "date_of_birth"} & set(outcome.json)
            return [f"identifier fields shown to a registry-wide role: {sorted(shown)}"] if shown else []
        if route.model is Patient and role in SITE_STAFF and outcome.json.get("local_identifier") is None:
            return ["own site's patient without its local identifier"]
        return []

    return check


def _b_filter_values(world: World) -> dict[str, list[tuple[str, str]]]:
    """Values naming site B's records, per list filter: (label, value)."""
    main = world.main["B"]
    return {
        "site": [("site code", world.sites["B"].code)],
        "patient": [("registry ID", main.patient.registry_id)],
        "episode": [("episode id", str(main.episode.pk))],
        # Its start (the search is by prefix), so that the full registry ID in an answer is not an echo of the request.
        "search": [("registry ID start", main.patient.registry_id[:10]), ("local identifier", "LOCAL-B-MAIN")],
    }


def _api_filter_check(label: str) -> Callable[[str, Outcome], list[str]]:
    """Filtering by a site-B value: nothing for site-A staff; no identifier search across sites either."""

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200:
            return []
        rows = outcome.json.get("results") if isinstance(outcome.json, dict) else None
        if not isinstance(rows, list):
            return ["a list answered without results"]
        if role in SITE_STAFF and rows:
            return [f"{len(rows)} row(s) for a site-B {label}"]
        if role in REGISTRY_WIDE and label == "local identifier" and rows:
            return [f"{len(rows)} row(s) found by another site's local identifier"]
        if role in REGISTRY_WIDE and any(row.get("site") != "BBB" for row in rows):
            return [f"rows of another site for a site-B {label}"]
        return []

    return check


def _api_filter_cells(world: World, route: RecordRoute, method: str, template: str) -> list[Cell]:
    """The list filtered by every documented identifying filter, with values of site B."""
    values = _b_filter_values(world)
    cells = []
    for name in schema_query_parameters(method, template):
        for label, value in values.get(name, []):
            cells.append(
                Cell(
                    "api",
                    method,
                    f"{template}?{name}=",
                    "B",
                    RECORD_API["list"],
                    url=f"{route.list_path()}?{urlencode({name: value})}",
                    target=label,
                    check=_api_filter_check(label),
                )
            )
    return cells


def _sites_list_check(world: World) -> Callable[[str, Outcome], list[str]]:
    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200:
            return []
        codes = {row.get("code") for row in (outcome.json or {}).get("results", [])}
        wanted = {
            "data_entry_a": {world.sites["A"].code},
            "site_pi_a": {world.sites["A"].code},
            "investigator": set(),
        }.get(role, {site.code for site in world.sites.values()})
        return [] if codes == wanted else [f"sites listed {sorted(codes)}, expected {sorted(wanted)}"]

    return check


def _record_api_cells(world: World, route: RecordRoute, method: str, template: str, action: str) -> list[Cell]:
    table = RECORD_API[action]
    if route.record_type is None:
        return []
    if action == "list":
        cell = Cell("api", method, template, NO_SITE, table, url=route.list_path(), check=_api_list_check(world, route))
        return [cell, *_api_filter_cells(world, route, method, template)]
    cells = []
    for site in SITES:
        main = world.main[site].records[route.model]
        base = {"surface": "api", "method": method, "template": template, "site": site, "expectation": table}
        if action == "create":
            payload = world.api_payloads[route.route][site]
            if route.model is Patient:
                base["expectation"] = PATIENT_CREATE
            cells.append(
                Cell(
                    **base,
                    url=route.list_path(),
                    body=lambda role, payload=payload: payload,
                    check=_api_detail_check(route, site),
                    phase=CREATE,
                )
            )
        elif action == "retrieve":
            cells.append(Cell(**base, url=route.detail_url(main), check=_api_detail_check(route, site)))
        elif action in ("update", "partial_update"):

            def body(role, main=main, site=site, action=action):
                if action == "partial_update":
                    return dict(route.record_type.change)
                user = world.users[role] if role in REGISTRY_WIDE else world.owners[site]
                return api_put_body(route, main, user)

            cells.append(
                Cell(
                    **base,
                    url=route.detail_url(main),
                    body=body,
                    headers=lambda main=main: if_match_current(main),
                    check=_api_detail_check(route, site),
                    phase=CHANGE,
                )
            )
        elif action == "destroy":
            spare = world.disposable[site].records[route.model]
            cells.append(
                Cell(
                    **base,
                    url=route.detail_url(spare),
                    headers=lambda spare=spare: if_match_current(spare),
                    phase=DELETE,
                    rank=_delete_rank(route.model),
                )
            )
    if action == "partial_update":
        cells += _move_cells(world, route, method, template)
    return cells


def _move_sources(world: World) -> dict[type, list[tuple[Any, dict[str, Any], str, dict[str, PerSite]]]]:
    """Per record type: site-A records, a change that moves each into site B (valid there, so a coordinator's
    move of a child succeeds and center staff's can only fail for the site), a label and the expectation.
    A patient's site changes only by transfer, and an enrolled episode keeps its patient: refused to all."""
    a, b = world.main["A"], world.main["B"]
    into_b = world.course_only["B"].registry_id
    return {
        Patient: [(world.bare["A"], {"site": world.sites["B"].code}, "→ B", MOVE_REFUSED)],
        InitialCourse: [
            (world.course_only["A"].initial_course, {"patient": world.bare["B"].registry_id}, "→ B", RECORD_API["move"])
        ],
        RechallengeEpisode: [
            (a.episode, {"patient": into_b}, "→ B", RECORD_API["move"]),
            (world.enrolled["A"].episode, {"patient": into_b}, f"{ENROLLED} → B", MOVE_REFUSED),
        ],
        AdverseEvent: [(a.records[AdverseEvent], {"patient": b.patient.registry_id}, "→ B", RECORD_API["move"])],
        ResponseAssessment: [(a.records[ResponseAssessment], {"episode": b.episode.pk}, "→ B", RECORD_API["move"])],
        FollowUp: [(a.records[FollowUp], {"episode": b.episode.pk}, "→ B", RECORD_API["move"])],
    }


def _move_cells(world: World, route: RecordRoute, method: str, template: str) -> list[Cell]:
    return [
        Cell(
            "api",
            method,
            template,
            "A",
            expectation,
            url=route.detail_url(record),
            target=label,
            body=lambda role, change=change: dict(change),
            headers=lambda record=record: if_match_current(record),
            check=_api_detail_check(route, "A"),
            phase=DELETE,
            rank=-1,  # after every change of the main records, before the deletions
        )
        for record, change, label, expectation in _move_sources(world).get(route.model, [])
    ]


#: What blinding hides from center staff in an assessment.
BLINDED_FIELDS = frozenset({"category", "score", "factors"})


def _assessment_check(world: World, *, listed: bool) -> Callable[[str, Outcome], list[str]]:
    """Blinding is on: center staff get assessments without category, score and factors, coordinators with
    them; a list holds the own site's assessments only (every site's for registry-wide roles)."""

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status not in (200, 201) or not isinstance(outcome.json, dict):
            return []
        rows = outcome.json.get("results") if listed else [outcome.json]
        if not isinstance(rows, list):
            return ["a list answered without results"]
        problems = []
        for row in rows:
            shown = BLINDED_FIELDS & set(row)
            if role in SITE_STAFF and (shown or row.get("blinded") is not True):
                problems.append(f"assessment #{row.get('id')} unblinded for center staff: {sorted(shown)}")
            if role in REGISTRY_WIDE and (shown != BLINDED_FIELDS or row.get("blinded") is not False):
                problems.append(f"assessment #{row.get('id')} without its category for a registry-wide role")
        if listed:
            seen = {row.get("id") for row in rows}
            wanted = {"A"} if role in SITE_STAFF else set(SITES) if role in REGISTRY_WIDE else set()
            problems += [
                f"site {s}'s assessment missing from the list" for s in wanted if world.enrolled[s].pk not in seen
            ]
            if role in SITE_STAFF:
                foreign = [row.get("id") for row in rows if row.get("site") != world.sites["A"].code]
                if foreign:
                    problems.append(f"foreign assessments listed: {foreign}")
        return problems

    return check


def _other(site: str) -> str:
    return SITES[1 - SITES.index(site)]


def _transfer_check(world: World, site: str) -> Callable[[str, Outcome], list[str]]:
    """A transfer answers the patient at its new site, without identifiers for registry-wide roles."""

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200 or not isinstance(outcome.json, dict):
            return []
        problems = []
        if outcome.json.get("site") != world.sites[_other(site)].code:
            problems.append(f"transferred patient answered at {outcome.json.get('site')}")
        shown = {"local_identifier", "date_of_birth"} & set(outcome.json)
        if shown:
            problems.append(f"identifier fields shown after a transfer: {sorted(shown)}")
        return problems

    return check


def _validation_site_rows(metrics: dict[str, Any]) -> set[str]:
    """Every site code named by the per-site rows (and their summaries) of a run's populations."""
    codes: set[str] = set()
    for population in metrics.get("populations", {}).values():
        by_site = population["heterogeneity"]["by_site"]
        codes |= set(by_site["cells"])
        for summary in by_site["summary"].values():
            for key in ("cells_pooled", "cells_not_estimable", "small_cells_pooled"):
                codes |= set(summary[key])
    return codes


def _validation_list_check(world: World) -> Callable[[str, Outcome], list[str]]:
    """The world's run is listed, without its metrics."""

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200:
            return []
        rows = (outcome.json or {}).get("results")
        if not isinstance(rows, list):
            return ["a list answered without results"]
        problems = []
        if world.validation_report.pk not in {row.get("id") for row in rows}:
            problems.append("the validation run is missing from the list")
        if any("metrics" in row for row in rows):
            problems.append("metrics in the list")
        return problems

    return check


def _validation_detail_check(world: World) -> Callable[[str, Outcome], list[str]]:
    """Center staff get site A's per-site rows only; registry-wide roles and investigators both sites'."""
    a, b = world.sites["A"].code, world.sites["B"].code

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200 or not isinstance(outcome.json, dict):
            return []
        metrics = outcome.json.get("metrics")
        if not isinstance(metrics, dict):
            return ["a finished run without its metrics"]
        seen = _validation_site_rows(metrics)
        wanted = {a} if role in SITE_STAFF else {a, b}
        return [] if seen == wanted else [f"per-site rows of {sorted(seen)}, expected {sorted(wanted)}"]

    return check


def _validation_started_check(role: str, outcome: Outcome) -> list[str]:
    if outcome.status != 202:
        return []
    body = outcome.json if isinstance(outcome.json, dict) else {}
    return [] if body.get("status") == "pending" else [f"started run answered {body.get('status')!r}, not pending"]


def _other_api_cells(world: World, method: str, template: str) -> list[Cell]:
    table = OTHER_API[(method, template)]
    if template == "/api/v1/episodes/{id}/enroll/":
        cells = []
        for site in SITES:
            base = {"surface": "api", "method": method, "template": template, "site": site}
            check = _assessment_check(world, listed=False)
            # After every change and deletion, so the other cells find the main episode as the world made it.
            after_all = {"phase": DELETE, "rank": len(DELETE_ORDER) + 1}
            cells.append(
                Cell(
                    **base,
                    expectation=table,
                    url=f"/api/v1/episodes/{world.main[site].episode.pk}/enroll/",
                    check=check,
                    **after_all,
                )
            )
            cells.append(
                Cell(
                    **base,
                    expectation=ENROLL_AGAIN,
                    url=f"/api/v1/episodes/{world.enrolled[site].episode_id}/enroll/",
                    target=ENROLLED,
                    **after_all,
                )
            )
        return cells
    if template == "/api/v1/assessments/":
        cells = [
            Cell("api", method, template, NO_SITE, table, url=template, check=_assessment_check(world, listed=True))
        ]
        b = world.enrolled["B"]
        for name, label, value in (
            ("episode", "episode id", str(b.episode_id)),
            ("patient", "registry ID", b.episode.patient.registry_id),
            ("site", "site code", world.sites["B"].code),
        ):
            cells.append(
                Cell(
                    "api",
                    method,
                    f"{template}?{name}=",
                    "B",
                    table,
                    url=f"{template}?{urlencode({name: value})}",
                    target=label,
                    check=_api_filter_check(label),
                )
            )
        return cells
    if template == "/api/v1/assessments/{id}/":
        return [
            Cell(
                "api",
                method,
                template,
                site,
                table,
                url=f"/api/v1/assessments/{world.enrolled[site].pk}/",
                check=_assessment_check(world, listed=False),
            )
            for site in SITES
        ]
    if template == "/api/v1/sites/":
        return [Cell("api", method, template, NO_SITE, table, url=template, check=_sites_list_check(world))]
    if template == "/api/v1/sites/{code}/":
        return [
            Cell("api", method, template, site, table, url=f"/api/v1/sites/{world.sites[site].code}/") for site in SITES
        ]
    if template == TRANSFER:
        return [
            Cell(
                "api",
                method,
                template,
                site,
                table,
                url=f"/api/v1/patients/{world.transferable[site].registry_id}/transfer/",
                body=lambda role, site=site: {"site": world.sites[_other(site)].code, "reason": "permission matrix"},
                headers=lambda patient=world.transferable[site]: if_match_current(patient),
                check=_transfer_check(world, site),
                phase=CHANGE,
            )
            for site in SITES
        ]
    if template == "/api/v1/decision-models/evaluate/":
        return [Cell("api", method, template, NO_SITE, table, url=template, body=lambda role: EVALUATE_BODY)]
    if template == VALIDATION_RUNS and method == "GET":
        return [Cell("api", method, template, NO_SITE, table, url=template, check=_validation_list_check(world))]
    if template == VALIDATION_RUNS and method == "POST":
        return [
            Cell(
                "api",
                method,
                template,
                NO_SITE,
                table,
                url=template,
                body=lambda role: {},
                check=_validation_started_check,
                phase=CREATE,
            )
        ]
    if template == VALIDATION_RUN:
        run = world.validation_report
        return [
            Cell(
                "api",
                method,
                template,
                NO_SITE,
                table,
                url=f"/api/v1/validation-runs/{run.pk}/",
                target="per-site rows of A and B",
                check=_validation_detail_check(world),
            )
        ]
    if template.startswith(EXPORTS):
        return _export_api_cells(world, method, template, table)
    if template.startswith(QUERIES):
        return _query_api_cells(world, method, template, table)
    if template in (CASE_STATUS, CASE_SIGN, CASE_UNLOCK) or template.startswith(SDV_LIST):
        return _signoff_api_cells(world, method, template, table)
    return [Cell("api", method, template, NO_SITE, table, url=template)]


EXPORT_BODY = {"datasets": ["analysis"], "formats": ["csv"], "profile": "safe_harbor"}


def _export_api_cells(world: World, method: str, template: str, table) -> list[Cell]:
    """Export requests belong to no site: one cell each (ready, waiting, or expired as the operation needs)."""
    exports = world.exports
    base = {"surface": "api", "method": method, "template": template, "site": NO_SITE}
    if template == EXPORTS and method == "POST":
        body = {**EXPORT_BODY, "project": exports["project"].pk}
        return [Cell(**base, expectation=table, url=template, body=lambda role: body, phase=CREATE)]
    if template == EXPORTS:
        return [Cell(**base, expectation=table, url=template)]
    action = template.removeprefix(EXPORT)
    if action in ("approve/", "refuse/"):
        target = exports["waiting" if action == "approve/" else "refusable"]
        return [
            Cell(
                **base,
                expectation=table,
                url=f"{EXPORTS}{target.pk}/{action}",
                target=f"waiting {target.export_id}",
                body=lambda role: {"reason": "permission matrix"},
                phase=CHANGE,
            )
        ]
    if action == "download/":
        return [
            Cell(**base, expectation=table, url=f"{EXPORTS}{exports['ready'].pk}/download/", target="ready bundle"),
            Cell(
                **base,
                expectation=EXPORT_EXPIRED,
                url=f"{EXPORTS}{exports['expired'].pk}/download/",
                target="expired bundle",
            ),
        ]
    return [Cell(**base, expectation=table, url=f"{EXPORTS}{exports['ready'].pk}/", target="ready export")]


# --- queries (the Data Resolution Workflow): API cells ---


def _query_list_check(world: World) -> Callable[[str, Outcome], list[str]]:
    """Center staff list site A's queries only, never one kept for coordinators; registry-wide roles both sites'."""

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200:
            return []
        rows = outcome.json.get("results") if isinstance(outcome.json, dict) else None
        if not isinstance(rows, list):
            return ["a list answered without results"]
        seen = {row.get("id") for row in rows}
        problems = []
        if role in SITE_STAFF:
            foreign = [row.get("id") for row in rows if row.get("site") != world.sites["A"].code]
            hidden = [row.get("id") for row in rows if row.get("coordinators_only")]
            problems += [f"foreign queries listed: {foreign}"] if foreign else []
            problems += [f"queries kept for coordinators listed: {hidden}"] if hidden else []
            if world.queries["A"]["open"].pk not in seen:
                problems.append("own site's open query missing from the list")
        if role in REGISTRY_WIDE:
            wanted = {world.queries[site][state].pk for site in SITES for state in ("open", "hidden")}
            if not wanted <= seen:
                problems.append("a coordinator's list lacks a site's query")
        return problems

    return check


def _query_api_cells(world: World, method: str, template: str, table) -> list[Cell]:
    """The list (and filtered by site B's values), raising on each site's episode, and every step on a query of
    the state it needs: answer and comment an open one, close an answered one, re-open a closed one."""
    if template == QUERIES and method == "GET":
        cells = [Cell("api", method, template, NO_SITE, table, url=template, check=_query_list_check(world))]
        main = world.main["B"]
        for name, label, value in (
            ("site", "site code", world.sites["B"].code),
            ("patient", "registry ID", main.patient.registry_id),
        ):
            url = f"{template}?{urlencode({name: value})}"
            cells.append(
                Cell(
                    "api",
                    method,
                    f"{template}?{name}=",
                    "B",
                    table,
                    url=url,
                    target=label,
                    check=_api_filter_check(label),
                )
            )
        return cells
    if template == QUERIES:
        return [
            Cell(
                "api",
                method,
                template,
                site,
                table,
                url=template,
                body=lambda role, site=site: {
                    "record_type": "episode",
                    "record_id": world.main[site].episode.pk,
                    "field": "ecog_at_rechallenge",
                    "message": "permission matrix",
                },
                phase=CREATE,
            )
            for site in SITES
        ]
    step = template.removeprefix(QUERY)
    state = {"close/": "answered", "reopen/": "closed"}.get(step, "open")
    cells = []
    for site in SITES:
        query = world.queries[site][state]
        base = {"surface": "api", "method": method, "template": template, "site": site, "target": f"{state} query"}
        url = f"{QUERIES}{query.pk}/{step}"
        if method == "GET":
            cells.append(Cell(**base, expectation=table, url=url))
            continue
        body = (
            (lambda role: {"resolution": "resolved"})
            if step == "close/"
            else (lambda role: {"text": "permission matrix"})
        )
        cells.append(Cell(**base, expectation=table, url=url, body=body, phase=CHANGE))
    if method == "GET" and template == QUERY:
        hidden = world.queries["A"]["hidden"]
        cells.append(
            Cell(
                "api", method, template, "A", QUERY_HIDDEN, url=f"{QUERIES}{hidden.pk}/", target="kept for coordinators"
            )
        )
        for site in SITES:  # the value a rule saw in the date of birth: for its own site's eyes only
            seen = world.queries[site]["identifier"]
            cells.append(
                Cell("api", method, template, site, table, url=f"{QUERIES}{seen.pk}/", target="date of birth seen")
            )
    return cells


# --- sign-off and source verification (issue #10 item 5): API cells ---


def _signoff_api_cells(world: World, method: str, template: str, table) -> list[Cell]:
    """Per site: the main case's status; signing the complete case (the password of the signer); unlocking the
    signed case; the marks listed, read and removed (those of the signed case); a new mark on the complete case."""
    from tests.factories import PASSWORD

    cells = []
    for site in SITES:
        own = world.signoff[site]
        base = {"surface": "api", "method": method, "template": template, "site": site, "expectation": table}
        if template == CASE_STATUS:
            cells.append(Cell(**base, url=f"/api/v1/patients/{world.main[site].patient.registry_id}/case-status/"))
        elif template == CASE_SIGN:
            url = f"/api/v1/patients/{own['signable'].registry_id}/sign/"
            cells.append(Cell(**base, url=url, body=lambda role: {"password": PASSWORD}, phase=CHANGE))
        elif template == CASE_UNLOCK:
            url = f"/api/v1/patients/{own['signed'].registry_id}/unlock/"
            cells.append(Cell(**base, url=url, body=lambda role: {"reason": "permission matrix"}, phase=CHANGE))
        elif template == SDV_LIST and method == "GET":
            if site == "A":
                cells.append(Cell(**{**base, "site": NO_SITE}, url=template, check=_sdv_list_check(world)))
        elif template == SDV_LIST:
            body = {"record_type": "patient", "record_id": own["signable"].pk, "field": "year_of_birth"}
            cells.append(Cell(**base, url=template, body=lambda role, body=body: body, phase=CREATE))
        elif method == "GET":
            cells.append(Cell(**base, url=f"{SDV_LIST}{own['read_mark'].pk}/"))
        else:
            cells.append(Cell(**base, url=f"{SDV_LIST}{own['removable_mark'].pk}/", phase=DELETE))
    return cells


def _sdv_list_check(world: World) -> Callable[[str, Outcome], list[str]]:
    """Center staff list site A's marks only; registry-wide roles both sites'."""

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200:
            return []
        rows = outcome.json.get("results") if isinstance(outcome.json, dict) else None
        if not isinstance(rows, list):
            return ["a list answered without results"]
        seen = {row.get("site") for row in rows}
        wanted = {world.sites["A"].code} if role in SITE_STAFF else {world.sites[site].code for site in SITES}
        return [] if seen == wanted else [f"marks of sites {sorted(seen)}, expected {sorted(wanted)}"]

    return check


def api_matrix(world: World) -> Matrix:
    """One cell per schema operation and site; an operation without a row in the tables is unmapped."""
    matrix = Matrix()
    routes = {}
    for route in record_routes():
        routes[route.list_path()] = (route, False)
        routes[route.detail_template()] = (route, True)
        if route.record_type is None:
            matrix.unmapped.append(f"api /api/v1/{route.route}/: no RecordType (payload, change) in api_support")
    operations = schema_operations()
    for method, template in operations:
        if template in routes and (method, routes[template][1]) in RECORD_ACTIONS:
            route, detail = routes[template]
            matrix.cells += _record_api_cells(world, route, method, template, RECORD_ACTIONS[(method, detail)])
        elif (method, template) in OTHER_API:
            matrix.cells += _other_api_cells(world, method, template)
        else:
            matrix.unmapped.append(f"api {method} {template}: no expectation in the permission matrix")
    listed = set(operations)
    for method, template in OTHER_API:
        if (method, template) not in listed:
            matrix.unmapped.append(f"api {method} {template}: expected in the schema but missing")
    return matrix


# --- Page cells -------------------------------------------------------------------------------------------

#: Which record a bare ``pk`` names, by URL name.
PK_TARGET = {
    "clinical:episode-detail": "episode",
    "assessments:episode-enroll": "episode",
    "imports:job-detail": "import_job",
    "imports:job-errors": "import_job",
    "imports:job-confirm": "import_job",
    "validation:run-detail": "validation_run",
    "exports:project-detail": "export_project",
    "exports:project-members": "export_project",  # export projects (issue #12)
    "exports:request-create": "export_project",
    "exports:request-detail": "export_request",
    "exports:request-decide": "export_request",
    "exports:request-download": "export_request",
    # queries: the thread and its steps, each on a query of the state it needs
    "quality:query-detail": "open_query",
    "quality:query-answer": "open_query",
    "quality:query-comment": "open_query",
    "quality:query-close": "answered_query",
    "quality:query-reopen": "closed_query",
}


def validation_run_of(world: World):
    """The world's finished validation run, whose per-site rows name both sites (runs belong to no site)."""
    return world.validation_report


#: Page targets of a validation run whose body names the per-site rows: (label, how a site's row looks).
VALIDATION_SITE_ROWS = {
    "validation report": lambda code: f'data-cell="{code}"',
    "forest plot": lambda code: f">{code}<",
}


def _validation_page_check(world: World, target: str) -> Callable[[str, Outcome], list[str]] | None:
    """Center staff see site A's per-site row only (report and forest plot); everyone else both sites'."""
    row = VALIDATION_SITE_ROWS.get(target)
    if row is None:
        return None

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200:
            return []
        seen = {site for site in SITES if row(world.sites[site].code) in outcome.body}
        wanted = {"A"} if role in SITE_STAFF else set(SITES)
        return [] if seen == wanted else [f"per-site rows of sites {sorted(seen)}, expected {sorted(wanted)}"]

    return check


def fill(pattern: PagePattern, world: World, site: str) -> list[tuple[str, dict[str, Any]]] | str:
    """(target label, URL kwargs) for a record of ``site``; a string says why the pattern cannot be filled."""
    params = set(pattern.params)
    main = world.main[site]
    if params == {"registry_id"}:
        return [("patient", {"registry_id": main.patient.registry_id})]
    if params == {"model", "pk"}:
        filled = []
        for slug, model in model_slugs().items():
            if model not in main.records:
                return f"no record of {model.__name__} to fill <model>"
            filled.append((slug, {"model": slug, "pk": main.records[model].pk}))
        filled.append((ENROLLED, {"model": "episode", "pk": world.enrolled[site].episode_id}))
        return filled
    if params == {"episode_pk"}:
        return [("episode", {"episode_pk": main.episode.pk})]
    if params == {"site_code"}:
        return [("site", {"site_code": world.sites[site].code})]
    if params == {"pk"}:
        target = PK_TARGET.get(pattern.name or "")
        if target == "episode":
            return [("episode", {"pk": main.episode.pk})]
        if target == "import_job":
            return [("import job", {"pk": world.import_jobs[site].pk})]
        if target == "validation_run":
            return [("validation report", {"pk": validation_run_of(world).pk})]
        if target == "export_project":  # exports belong to no site: the same target for both
            return [("export project", {"pk": world.exports["project"].pk})]
        if target == "export_request":
            return [("ready export", {"pk": world.exports["ready"].pk})]
        if target and target.endswith("_query"):  # queries
            state = target.removesuffix("_query")
            filled = [(f"{state} query", {"pk": world.queries[site][state].pk})]
            if pattern.name == "quality:query-detail":
                filled.append(("date of birth seen", {"pk": world.queries[site]["identifier"].pk}))
            return filled
        return f"no PK_TARGET for <pk> of {pattern.name}"
    if params == {"metric"}:  # dashboard: every figure's records, at every site the user reads
        return [(metric, {"metric": metric}) for metric in _drilldown_metrics()] if site == "A" else []
    if params == {"pk", "population", "name"}:
        run = validation_run_of(world)
        return [
            ("Kaplan–Meier figure", {"pk": run.pk, "population": "primary", "name": "km-pfs2"}),
            ("forest plot", {"pk": run.pk, "population": "primary", "name": "forest-site"}),
        ]
    return f"cannot fill parameters {sorted(params)}"


ENROLLED = "enrolled episode"


def _blinding_check(world: World, site: str) -> Callable[[str, Outcome], list[str]]:
    """While blinded, center staff see no locked category, nor a factor's reason it can be read back from
    (page, history); coordinators see them."""
    assessment = world.enrolled[site]
    words = {assessment.category, assessment.get_category_display()}
    pattern = re.compile("|".join(rf"\b{re.escape(word)}\b" for word in words), re.IGNORECASE)
    reasons = [factor["reason"] for factor in assessment.factors if factor.get("reason")]

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200:
            return []
        shown = pattern.search(outcome.body)
        if role in SITE_STAFF and shown:
            return [f"blinded category {shown.group(0)!r} shown to center staff"]
        body = html.unescape(outcome.body)
        if role in SITE_STAFF and any(reason in body for reason in reasons):
            return ["a blinded factor reason shown to center staff"]
        return []

    return check


def _page_list_check(world: World, name: str) -> Callable[[str, Outcome], list[str]] | None:
    shown = {
        "clinical:patient-list": lambda site: world.main[site].patient.registry_id,
        "imports:index": lambda site: world.import_jobs[site].get_absolute_url(),
        "quality:query-list": lambda site: f'href="/quality/queries/{world.queries[site]["open"].pk}/"',  # queries
        "quality:dashboard": lambda site: f'data-site="{world.sites[site].code}"',  # dashboard: a row per site
    }.get(name)
    if shown is None:
        return None

    def check(role: str, outcome: Outcome) -> list[str]:
        if outcome.status != 200:
            return []
        wanted = ["A"] if role in SITE_STAFF else list(SITES) if role in REGISTRY_WIDE else []
        return [f"site {site}'s record missing from the list" for site in wanted if shown(site) not in outcome.body]

    return check


#: Query parameters of list pages that name records or sites.
PAGE_FILTERS = {"clinical:patient-list": ("q", "site")}


def _page_filter_cells(world: World, name: str) -> list[Cell]:
    """A list page searched or filtered with site B's values: site-A staff find nothing of it, and nobody
    finds a patient by another site's local identifier."""
    main = world.main["B"]
    values = {
        "q": [("registry ID start", main.patient.registry_id[:10]), ("local identifier", "LOCAL-B-MAIN")],
        "site": [("site", str(world.sites["B"].pk))],
    }
    cells = []
    for parameter in PAGE_FILTERS.get(name, ()):
        for label, value in values[parameter]:

            def check(role: str, outcome: Outcome, label=label) -> list[str]:
                found = main.patient.registry_id in outcome.body
                if found and (role in SITE_STAFF or label == "local identifier"):
                    return [f"site B's patient found by its {label}"]
                if not found and role in REGISTRY_WIDE and label != "local identifier":
                    return [f"site B's patient not found by its {label}"]
                return []

            url = f"{reverse(name)}?{urlencode({parameter: value})}"
            cells.append(
                Cell("page", "GET", f"{name}?{parameter}=", "B", PAGE_GET[name], url=url, target=label, check=check)
            )
    return cells


def _post_cells(world: World, name: str) -> list[Cell]:
    """The write cells of one page: a valid body at site A and at site B (or one, for site-less pages)."""
    table = PAGE_POST[name]
    cells: list[Cell] = []

    def add(site, url, body, *, target="", phase=CREATE, rank=0):
        cells.append(Cell("page", "POST", name, site, table, url=url, body=body, target=target, phase=phase, rank=rank))

    for site in SITES:
        main, code = world.main[site], world.sites[site]
        if name == "clinical:patient-create":
            add(site, reverse(name), lambda role, pk=code.pk: {**WEB_PATIENT, "site": str(pk)})
        elif name == "clinical:initial-course-create":
            add(site, reverse(name, args=[world.bare[site].registry_id]), lambda role: WEB_INITIAL_COURSE)
        elif name == "clinical:adverse-event-create":
            add(site, reverse(name, args=[main.patient.registry_id]), lambda role: WEB_ADVERSE_EVENT)
        elif name == "clinical:episode-create":
            add(site, reverse(name, args=[world.course_only[site].registry_id]), lambda role: WEB_EPISODE)
        elif name == "clinical:response-create":
            add(site, reverse(name, args=[main.episode.pk]), lambda role: WEB_RESPONSE)
        elif name == "clinical:follow-up-create":
            add(site, reverse(name, args=[main.episode.pk]), lambda role: WEB_FOLLOW_UP)
        elif name == "clinical:record-edit":
            for slug, model in model_slugs().items():
                record = main.records[model]

                def body(role, record=record, site=site):
                    user = world.users[role] if role in REGISTRY_WIDE else world.owners[site]
                    return web_edit_body(record, user)

                add(site, reverse(name, args=[slug, record.pk]), body, target=slug, phase=CHANGE)
        elif name == "clinical:record-delete":
            for slug, model in model_slugs().items():
                spare = world.disposable[site].records[model]
                body = lambda role, spare=spare: {  # noqa: E731
                    "reason": "permission matrix",
                    "version": str(type(spare).objects.get(pk=spare.pk).version),
                }
                add(
                    site,
                    reverse(name, args=[slug, spare.pk]),
                    body,
                    target=slug,
                    phase=DELETE,
                    rank=_delete_rank(model),
                )
        elif name == "assessments:episode-enroll":
            # The confirmation as the page sends it: the fingerprint of the inputs it showed.
            add(site, reverse(name, args=[main.episode.pk]), lambda role, e=main.episode: confirmation(e), phase=CHANGE)
        elif name == "imports:upload":
            add(
                site,
                reverse(name),
                lambda role, pk=code.pk, site=site: {"site": str(pk), "file": upload_file(f"LOCAL-UPLOAD-{site}")},
            )
        elif name == "imports:job-confirm":
            add(site, reverse(name, args=[world.import_jobs[site].pk]), lambda role: {}, phase=CHANGE)
        elif name == "clinical:patient-transfer":
            patient = world.transferable[site]

            def body(role, patient=patient, site=site):
                to_site = world.sites[_other(site)]
                version = type(patient).objects.get(pk=patient.pk).version
                return {"site": str(to_site.pk), "reason": "permission matrix", "version": str(version)}

            add(site, reverse(name, args=[patient.registry_id]), body, phase=CHANGE)
        elif name == "validation:run-create":
            if site == "A":  # runs belong to no site
                add(NO_SITE, reverse(name), lambda role: {})
        elif name == "exports:request-create":
            if site == "A":  # exports belong to no site
                add(NO_SITE, reverse(name, args=[world.exports["project"].pk]), lambda role: EXPORT_BODY)
        elif name == "exports:project-create":  # export projects (issue #12)
            if site == "A":
                add(
                    NO_SITE,
                    reverse(name),
                    lambda role: {"title": f"Matrix {role}", "approval_reference": "IRB-M", "k": "5"},
                )
        elif name == "exports:project-members":  # export projects (issue #12): each role adds a new investigator
            if site == "A":

                def member_body(role):
                    from apps.accounts.models import Role
                    from tests.factories import user_with_role

                    return {"member": str(user_with_role(Role.INVESTIGATOR).pk)}

                add(NO_SITE, reverse(name, args=[world.exports["project"].pk]), member_body, phase=CHANGE)
        elif name == "exports:request-decide":
            if site == "A":
                waiting = world.exports["waiting"]
                add(NO_SITE, reverse(name, args=[waiting.pk]), lambda role: {"decision": "approve"}, phase=CHANGE)
        elif name == "quality:query-raise":  # queries: a question on each record of the site's main case
            for slug, model in model_slugs().items():
                record = main.records[model]
                add(
                    site,
                    reverse(name, args=[slug, record.pk]),
                    lambda role: {"message": "permission matrix"},
                    target=slug,
                )
        elif name in QUERY_STEPS:  # queries: each step on a query of the state it needs
            state = PK_TARGET[name].removesuffix("_query")
            body = (
                (lambda role: {"resolution": "resolved"})
                if name == "quality:query-close"
                else (lambda role: {"text": "permission matrix"})
            )
            add(site, reverse(name, args=[world.queries[site][state].pk]), body, target=f"{state} query", phase=CHANGE)
        elif name in ("quality:case-sign", "quality:case-unlock", "quality:case-verify"):  # sign-off
            from registry.quality.case_status import DEFAULT_SIGNATURE_MEANING
            from tests.factories import PASSWORD

            own = world.signoff[site]
            if name == "quality:case-sign":
                body = {"password": PASSWORD, "meaning": DEFAULT_SIGNATURE_MEANING}
                add(site, reverse(name, args=[own["signable"].registry_id]), lambda role, body=body: body)
            elif name == "quality:case-unlock":
                add(site, reverse(name, args=[own["signed"].registry_id]), lambda role: {"reason": "matrix"})
            else:
                key = f"patient:{own['signable'].pk}:consent_status"
                add(site, reverse(name, args=[own["signable"].registry_id]), lambda role, key=key: {"mark": key})
        elif name == "assessments:blinding":
            if site == "A":
                # Blinding is on in the world: the unchecked box switches it off.
                add(NO_SITE, reverse(name), lambda role: {"reason": "permission matrix"}, phase=CHANGE)
        else:
            raise AssertionError(f"PAGE_POST has {name} but no body for it")
    return cells


def page_matrix(world: World) -> Matrix:
    """GET of every page pattern (filled with site A's and site B's records), POST of every write page."""
    matrix = Matrix()
    for pattern in page_patterns():
        name = pattern.name
        if not name:
            matrix.unmapped.append(f"page /{pattern.route}: unnamed, cannot be reversed")
            continue
        if name not in PAGE_GET:
            matrix.unmapped.append(f"page {name} (/{pattern.route}): no expectation in PAGE_GET")
            continue
        if name not in PAGE_POST and name not in READ_ONLY_PAGES:
            matrix.unmapped.append(f"page {name}: neither in PAGE_POST nor in READ_ONLY_PAGES")
        if pattern.params:
            for site in SITES:
                filled = fill(pattern, world, site)
                if isinstance(filled, str):
                    matrix.unmapped.append(f"page {name} (/{pattern.route}): {filled}")
                    break
                for target, kwargs in filled:
                    try:
                        url = reverse(name, kwargs=kwargs)
                    except NoReverseMatch as error:
                        matrix.unmapped.append(f"page {name}: {error}")
                        continue
                    blinded = target == ENROLLED or name == "clinical:patient-detail"
                    check = _blinding_check(world, site) if blinded else _validation_page_check(world, target)
                    matrix.cells.append(
                        Cell("page", "GET", name, site, PAGE_GET[name], url=url, target=target, check=check)
                    )
        else:
            matrix.cells.append(
                Cell(
                    "page", "GET", name, NO_SITE, PAGE_GET[name], url=reverse(name), check=_page_list_check(world, name)
                )
            )
            matrix.cells += _page_filter_cells(world, name)
        if name == "quality:drilldown":  # dashboard: each figure's records at a named site
            matrix.cells += _drilldown_site_cells(world)
        if name == "exports:request-download":
            url = reverse(name, args=[world.exports["expired"].pk])
            matrix.cells.append(Cell("page", "GET", name, NO_SITE, EXPORT_PAGE_EXPIRED, url=url, target="expired"))
        if name in PAGE_POST:
            matrix.cells += _post_cells(world, name)
    for path, table in ADMIN_PAGES.items():
        matrix.cells.append(Cell("admin", "GET", path, NO_SITE, table, url=path))
    return matrix


# --- Running a role's cells -------------------------------------------------------------------------------


def forbidden_strings(world: World, role: str, secrets: dict[str, dict[str, set[str]]]) -> dict[str, str]:
    """string → why it must not appear in any body this role receives."""
    out: dict[str, str] = {}

    def add(site: str, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            for value in secrets[site][kind]:
                out[value] = f"site {site} {kind}"

    if role in SITE_STAFF:
        add("B", ("registry_ids", "identifiers", "job_urls"))
        out[SITE_B_NAME] = "site B's name"
    elif role in REGISTRY_WIDE:
        add("A", ("identifiers",))
        add("B", ("identifiers",))
        for payload in world.api_payloads["patients"].values():
            out[payload["local_identifier"]] = "a local identifier the coordinator sent"
    else:
        for site in SITES:
            add(site, ("registry_ids", "identifiers", "job_urls"))
    return out


def matches(expected: Expected, outcome: Outcome) -> bool:
    login, admin_login, two_factor = reverse("accounts:login"), "/admin/login/", reverse("accounts:two-factor")
    if expected == LOGIN:
        return outcome.status == 302 and outcome.location.startswith(login)
    if expected == ADMIN_LOGIN:
        return outcome.status == 302 and outcome.location.startswith(admin_login)
    if expected == TWO_FACTOR:
        return outcome.status == 302 and outcome.location.startswith(two_factor)
    if expected == 302:
        return outcome.status == 302 and not outcome.location.startswith((login, admin_login, two_factor))
    return outcome.status == expected


def describe(outcome: Outcome) -> str:
    if outcome.status is None:
        return f"raised {outcome.error}"
    where = f" → {outcome.location}" if outcome.location else ""
    return f"{outcome.status}{where} {outcome.body[:160]!r}"


@dataclass
class Run:
    cells: int = 0
    failures: list[str] = field(default_factory=list)


def send(client, cell: Cell, role: str) -> tuple[Outcome, str]:
    """The outcome, and what the request itself said (an echo of it in an error is no leak)."""
    url = cell.url() if callable(cell.url) else cell.url
    headers = cell.headers() if cell.headers else {}
    method = getattr(client, cell.method.lower())
    if cell.method in ("GET", "DELETE") and cell.body is None:
        return perform(lambda: method(url, **headers)), url
    body = cell.body(role) if cell.body else {}
    sent = f"{url} {body!r}"
    if cell.surface == "api":
        return perform(lambda: method(url, body, format="json", **headers)), sent
    return perform(lambda: method(url, body, **headers)), sent


def run_cells(world: World, role: str, cells: list[Cell], client, forbidden: dict[str, str]) -> Run:
    run = Run()
    for cell in sorted(cells, key=lambda c: (c.phase, c.rank)):
        expected = expected_for(cell.expectation, role, cell.site if cell.site != NO_SITE else "A")
        outcome, sent = send(client, cell, role)
        run.cells += 1
        problems = []
        if outcome.status is None or outcome.status >= 500:
            problems.append(f"server error: {describe(outcome)}")
        elif not matches(expected, outcome):
            problems.append(f"expected {expected}, got {describe(outcome)}")
        answered = f"{outcome.body} {outcome.location.split('?')[0]}"  # ?next= only echoes the request
        leaks = sorted({why for text, why in forbidden.items() if text in answered and text not in sent})
        if leaks:
            problems.append(f"body reveals {', '.join(leaks)}")
        if cell.check and outcome.status is not None:
            problems += cell.check(role, outcome)
        run.failures += [f"{role}: {cell}: {problem}" for problem in problems]
    return run


def after_checks(world: World, role: str, before: dict[str, Any]) -> list[str]:
    """Sites the role may not write are unchanged; identifiers survive a coordinator's writes."""
    problems = []
    untouchable = {"anonymous": SITES, "investigator": SITES}.get(role, ("B",) if role in SITE_STAFF else ())
    for site in untouchable:
        for difference in state_differences(before[site], site_state(world.sites[site])):
            problems.append(f"{role}: site {site} changed: {difference}")
    user = world.users[role]
    if user is not None and role in SITE_STAFF:
        entries = AuditEntry.objects.filter(site=world.sites["B"], user=user)
        for entry in entries:
            problems.append(f"{role}: audit entry by a site-A user on a site-B record: {entry}")
    if role in REGISTRY_WIDE:
        for site in SITES:
            after = site_state(world.sites[site]).identifiers
            for pk, identifiers in before[site].identifiers.items():
                if pk in after and after[pk] != identifiers:
                    problems.append(f"{role}: patient#{pk} identifiers {identifiers} → {after[pk]}")
    return problems


def report(role: str, surface: str, run: Run) -> None:
    print(f"\n{surface} matrix, {role}: {run.cells} cells")
    assert not run.failures, f"{len(run.failures)} wrong cell(s) of {run.cells}:\n" + "\n".join(run.failures)


# --- Fixtures and tests -----------------------------------------------------------------------------------


@pytest.fixture
def world(
    site_a, site_b, data_entry_a, site_pi_a, data_entry_b, coordinator, investigator, admin_user, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORTS_DIR = tmp_path / "exports"
    users = {
        "anonymous": None,
        "data_entry_a": data_entry_a,
        "site_pi_a": site_pi_a,
        "coordinator": coordinator,
        "investigator": investigator,
        "admin": admin_user,
    }
    return build_world(site_a=site_a, site_b=site_b, users=users, owner_b=data_entry_b)


def _matrix_run(world: World, role: str, matrix: Matrix, client) -> Run:
    secrets = {site: secrets_of(world.sites[site]) for site in SITES}
    before = {site: site_state(world.sites[site]) for site in SITES}
    run = run_cells(world, role, matrix.cells, client, forbidden_strings(world, role, secrets))
    run.failures = [f"unmapped: {problem}" for problem in matrix.unmapped] + run.failures
    run.failures += after_checks(world, role, before)
    return run


@pytest.mark.parametrize("role", ROLES)
def test_api_permission_matrix(world, role):
    run = _matrix_run(world, role, api_matrix(world), api_client(role, world.users[role]))
    report(role, "API", run)


@pytest.mark.parametrize("role", ROLES)
def test_page_permission_matrix(world, role):
    run = _matrix_run(world, role, page_matrix(world), page_client(world.users[role]))
    report(role, "page", run)


def test_every_schema_operation_and_page_has_an_expectation(world):
    """A new endpoint or page fails here (and in every role's matrix) until it has a row above."""
    unmapped = api_matrix(world).unmapped + page_matrix(world).unmapped
    assert not unmapped, "\n".join(unmapped)
    assert len(schema_operations()) >= 40
    templates = {cell.template.split("?")[0] for cell in page_matrix(world).cells if cell.surface == "page"}
    assert templates == set(PAGE_GET)


@pytest.mark.parametrize("role", ["coordinator", "investigator", "admin"])
def test_registry_wide_roles_reach_nothing_without_a_verified_second_factor(world, role):
    """A password-only session is sent to two-factor (pages, admin) or refused (API); a token is refused outright.
    Nothing of any site is shown and nothing changes."""
    from django.test import Client
    from rest_framework.test import APIClient

    from tests.factories import api_token_key_for

    user = world.users[role]
    assert two_factor_required(user)
    session = Client()
    session.force_login(user)
    api_session = APIClient()
    api_session.force_login(user)
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {api_token_key_for(user)}")

    unverified_api = {role: 403}
    token_api = {role: 401}
    cells_by_client = []
    for cell in api_matrix(world).cells:
        cells_by_client.append((api_session, Cell(**{**cell.__dict__, "expectation": unverified_api, "check": None})))
        cells_by_client.append((token, Cell(**{**cell.__dict__, "expectation": token_api, "check": None})))
    for cell in page_matrix(world).cells:
        if cell.url.startswith(("/accounts/", "/healthz")):
            continue  # the sign-in flow itself stays open
        cells_by_client.append((session, Cell(**{**cell.__dict__, "expectation": {role: TWO_FACTOR}, "check": None})))

    secrets = {site: secrets_of(world.sites[site]) for site in SITES}
    nothing = forbidden_strings(world, "anonymous", secrets)  # no record of any site before the second factor
    before = {site: site_state(world.sites[site]) for site in SITES}
    run = Run()
    for client, cell in sorted(cells_by_client, key=lambda pair: (pair[1].phase, pair[1].rank)):
        sub = run_cells(world, role, [cell], client, nothing)
        run.cells += sub.cells
        run.failures += [f"{'token' if client is token else 'password-only'} {f}" for f in sub.failures]
    for site in SITES:
        run.failures += [
            f"site {site} changed: {d}" for d in state_differences(before[site], site_state(world.sites[site]))
        ]
    report(role, "second-factor gate", run)


# --- Writes at a closed site ------------------------------------------------------------------------------
#
# Site A is closed to new data (``Site.active`` off) once the world is built. Every write to one of its
# records — create, change and delete in the API and on the pages, a transfer into it, enrollment,
# registration and the import — is refused with "Site AAA is closed to new data." (the one message of
# ``apps.accounts.selectors.site_closed_message``) and changes nothing at either site.

CLOSED_RECORD_API = {
    "create": expect(401, 409, 409, 403),
    "update": expect(401, 409, 409, 404),
    "partial_update": expect(401, 409, 409, 404),
    "destroy": expect(401, 409, 409, 404),
}
#: Coordinators register no patient anywhere (403 with that reason); staff learn the site is closed.
CLOSED_PATIENT_CREATE = expect(401, 409, 403, 403)
CLOSED_ENROLL = expect(401, 409, 409, 404)
#: Site B's patient moved into closed site A: out of site-A staff's reach (404).
CLOSED_TRANSFER_IN = expect(401, 404, 409, 404)
#: The form comes back with the message; nothing is written.
CLOSED_FORM = expect(LOGIN, 200, 200, 403)
CLOSED_PAGE_POST: dict[str, dict[str, PerSite]] = {
    "clinical:initial-course-create": CLOSED_FORM,
    "clinical:adverse-event-create": CLOSED_FORM,
    "clinical:episode-create": CLOSED_FORM,
    "clinical:response-create": CLOSED_FORM,
    "clinical:follow-up-create": CLOSED_FORM,
    "clinical:record-edit": CLOSED_FORM,
    "clinical:record-delete": CLOSED_FORM,
    "clinical:patient-create": expect(LOGIN, 403, 403, 403),
    "imports:upload": expect(LOGIN, 403, 403, 403),
    # Back to the confirmation page, which says why (the patient page would mean it was enrolled).
    "assessments:episode-enroll": expect(LOGIN, 302, 302, 404),
}


def _closed_check(message: str, roles: frozenset[str] = SITE_STAFF | REGISTRY_WIDE):
    """A refusal (or the form shown again) says the site is closed, in so many words, to ``roles``."""

    def check(role: str, outcome: Outcome) -> list[str]:
        if role in roles and outcome.status in (200, 403, 409) and message not in html.unescape(outcome.body):
            return [f"answered {outcome.status} without {message!r}: {outcome.body[:160]!r}"]
        return []

    return check


def _closed_api_cells(world: World, message: str) -> list[Cell]:
    cells: list[Cell] = []
    a = world.main["A"]
    for route in record_routes():
        main = a.records[route.model]
        spare = world.disposable["A"].records[route.model]
        payload = world.api_payloads[route.route]["A"]
        patient = route.model is Patient
        create = CLOSED_PATIENT_CREATE if patient else CLOSED_RECORD_API["create"]
        base = {"surface": "api", "site": "A"}
        cells.append(
            Cell(
                **base,
                method="POST",
                template=route.list_path(),
                expectation=create,
                url=route.list_path(),
                body=lambda role, payload=payload: payload,
                check=_closed_check(message, SITE_STAFF if patient else SITE_STAFF | REGISTRY_WIDE),
                phase=CREATE,
            )
        )

        def put_body(role, main=main, route=route):
            user = world.users[role] if role in REGISTRY_WIDE else world.owners["A"]
            return api_put_body(route, main, user)

        for method, action, body in (
            ("PUT", "update", put_body),
            ("PATCH", "partial_update", lambda role, route=route: dict(route.record_type.change)),
        ):
            cells.append(
                Cell(
                    **base,
                    method=method,
                    template=route.detail_template(),
                    expectation=CLOSED_RECORD_API[action],
                    url=route.detail_url(main),
                    body=body,
                    headers=lambda main=main: if_match_current(main),
                    check=_closed_check(message),
                    phase=CHANGE,
                )
            )
        cells.append(
            Cell(
                **base,
                method="DELETE",
                template=route.detail_template(),
                expectation=CLOSED_RECORD_API["destroy"],
                url=route.detail_url(spare),
                headers=lambda spare=spare: if_match_current(spare),
                check=_closed_check(message),
                phase=DELETE,
                rank=_delete_rank(route.model),
            )
        )
    cells.append(
        Cell(
            "api",
            "POST",
            "/api/v1/episodes/{id}/enroll/",
            "A",
            CLOSED_ENROLL,
            url=f"/api/v1/episodes/{a.episode.pk}/enroll/",
            check=_closed_check(message),
            phase=CHANGE,
        )
    )
    incoming = world.transferable["B"]
    cells.append(
        Cell(
            "api",
            "POST",
            TRANSFER,
            "B",
            CLOSED_TRANSFER_IN,
            url=f"/api/v1/patients/{incoming.registry_id}/transfer/",
            target="→ closed A",
            body=lambda role: {"site": world.sites["A"].code, "reason": "permission matrix"},
            headers=lambda: if_match_current(incoming),
            check=_closed_check(message),
            phase=CHANGE,
        )
    )
    return cells


def _closed_page_cells(world: World, message: str) -> list[Cell]:
    cells = []
    for name, table in CLOSED_PAGE_POST.items():
        for cell in _post_cells(world, name):
            if cell.site != "A":
                continue
            roles = SITE_STAFF if name in ("clinical:patient-create", "imports:upload") else SITE_STAFF | REGISTRY_WIDE
            check = _closed_check(message, roles)
            if name == "assessments:episode-enroll":
                confirm = cell.url

                def check(role: str, outcome: Outcome, confirm=confirm) -> list[str]:
                    if role in SITE_STAFF | REGISTRY_WIDE and outcome.status == 302 and outcome.location != confirm:
                        return [f"enrollment went on to {outcome.location}"]
                    return []

            cells.append(Cell(**{**cell.__dict__, "expectation": table, "check": check}))
    return cells


@pytest.mark.parametrize("role", ROLES)
def test_a_closed_site_refuses_every_write_with_one_clear_message(world, role):
    closed = world.sites["A"]
    closed.active = False
    closed.save(update_fields=["active"])
    message = f"Site {closed.code} is closed to new data."
    secrets = {site: secrets_of(world.sites[site]) for site in SITES}
    before = {site: site_state(world.sites[site]) for site in SITES}
    forbidden = forbidden_strings(world, role, secrets)
    user = world.users[role]
    api = run_cells(world, role, _closed_api_cells(world, message), api_client(role, user), forbidden)
    pages = run_cells(world, role, _closed_page_cells(world, message), page_client(user), forbidden)
    run = Run(cells=api.cells + pages.cells, failures=api.failures + pages.failures)
    for site in SITES:
        run.failures += [
            f"{role}: site {site} changed: {d}" for d in state_differences(before[site], site_state(world.sites[site]))
        ]
    assert run.cells >= 30
    report(role, "closed-site", run)
