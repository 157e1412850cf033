"""Server-rendered data entry for center staff: patient list, patient page, CRF forms, record history.

Every record is looked up through ``apps.clinical.selectors`` (another site's record is a 404) and
every write goes through ``apps.clinical.services`` with channel ``web`` (validation, site check,
optimistic locking and audit in one place). Forms only check the input's shape. What a page shows
is computed here and in ``derived.py``; templates only lay it out.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst

from apps.accounts.selectors import Access, access_for_user, registration_refusal, site_list_for_user
from apps.assessments.display import (
    assessment_kind,
    enrollment_lock_of,
    factor_source,
    locked_review_criteria_text,
)
from apps.assessments.services import category_visible_to
from apps.core.audit import audit_history
from apps.core.errors import ApplicationError, ConflictError
from registry.crf import HIDDEN_FROM_COORDINATORS
from registry.dates import DatePrecision
from registry.decision import FACTOR_LABELS

from . import derived, services
from .forms import (
    FORM_FOR_MODEL,
    PRECISION_SUFFIX,
    AdverseEventForm,
    DeleteForm,
    PatientForm,
    PatientTransferForm,
    RecordForm,
    registration_sites_for_user,
)
from .models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from .selectors import patient_get_for_user, patient_list_for_user, patient_timeline, record_get_for_user

PAGE_SIZE = 50
CHANNEL = "web"

#: URL slug of each clinical record type (``/patients/records/<slug>/<pk>/edit/``, history, delete).
MODEL_FOR_SLUG: dict[str, type[Model]] = {
    "patient": Patient,
    "initial-course": InitialCourse,
    "adverse-event": AdverseEvent,
    "episode": RechallengeEpisode,
    "response": ResponseAssessment,
    "follow-up": FollowUp,
}
SLUG_FOR_MODEL = {model: slug for slug, model in MODEL_FOR_SLUG.items()}

#: Why the patient page offers no "Delete" (the service refuses these deletions with 409 as well).
ENROLLED_EPISODE_KEPT = "Enrolled: cannot be deleted, its locked decision-model assessment is kept for validation"
PATIENT_WITH_ENROLLED_KEPT = "Cannot be deleted: an enrolled rechallenge's locked assessment is kept for validation"

#: Fields never listed among a record's values on the patient page (bookkeeping, parents, precision).
_NOT_SHOWN = frozenset(
    {"id", "version", "is_complete", "created_at", "updated_at", "patient", "episode", "registry_id", "site"}
)


# --- access ------------------------------------------------------------------------------------------


def records_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in users who reach clinical records (center staff, coordinators); others get 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not access_for_user(request.user).reaches_records:
            raise PermissionDenied("Your role does not give access to patient records.")
        return view(request, *args, **kwargs)

    return wrapper


def _require_write(access: Access, patient: Patient) -> None:
    if not access.can_write_site(patient.site_id):
        raise PermissionDenied("You cannot change records of this site.")


def _model_for(slug: str) -> type[Model]:
    try:
        return MODEL_FOR_SLUG[slug]
    except KeyError:
        raise Http404("No such record type.") from None


def _patient_of(record: Model) -> Patient:
    if isinstance(record, Patient):
        return record
    if isinstance(record, ResponseAssessment | FollowUp):
        return record.episode.patient
    return record.patient


def _record_get(model: type[Model], *, user, pk: int) -> Model:
    """The record if it is within the user's reach; 404 otherwise (never 403: nothing is revealed)."""
    return record_get_for_user(model, user=user, pk=pk)


# --- display helpers ---------------------------------------------------------------------------------


def _display(record: Model, name: str) -> str:
    """The value of a field as a person reads it: choice labels, ISO dates (month-only marked)."""
    model_field = record._meta.get_field(name)
    value = getattr(record, model_field.attname)
    if value is None or value == "":
        return ""
    if model_field.choices:
        return str(getattr(record, f"get_{name}_display")())
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        precision = getattr(record, f"{name}{PRECISION_SUFFIX}", DatePrecision.DAY)
        if precision == DatePrecision.MONTH:
            return f"{value:%Y-%m} (month only)"
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return f"{value.normalize():f}"
    return str(value)


def _record_values(record: Model, *, hidden: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(label, value) of every filled-in field of a record, in CRF order."""
    values = []
    for model_field in record._meta.concrete_fields:
        name = model_field.name
        if name in _NOT_SHOWN or name in hidden or name.endswith(PRECISION_SUFFIX):
            continue
        shown = _display(record, name)
        if shown:
            values.append((capfirst(str(model_field.verbose_name)), shown))
    return values


def _hidden_fields(access: Access, patient: Patient) -> frozenset[str]:
    """Identifier fields the user may not see for this patient (all but the patient's own site)."""
    return frozenset() if access.can_see_identifiers_of(patient.site_id) else HIDDEN_FROM_COORDINATORS["patient"]


@dataclass
class Entry:
    """One record on the timeline with its values and the links to act on it."""

    kind: str
    title: str
    date: dt.date | None
    values: list[tuple[str, str]]
    anchor: str
    edit_url: str = ""
    delete_url: str = ""
    history_url: str = ""
    complete: bool = False
    children: list[Entry] = field(default_factory=list)
    #: Why a record the user may change offers no "Delete" (an enrolled episode, a patient with one).
    undeletable: str = ""

    def keep(self, why: str) -> None:
        """Offer no deletion, and say why."""
        if self.delete_url:
            self.delete_url, self.undeletable = "", why


def _record_urls(record: Model) -> dict[str, str]:
    kwargs = {"model": SLUG_FOR_MODEL[type(record)], "pk": record.pk}
    return {
        "edit_url": reverse("clinical:record-edit", kwargs=kwargs),
        "delete_url": reverse("clinical:record-delete", kwargs=kwargs),
        "history_url": reverse("clinical:record-history", kwargs=kwargs),
    }


def _entry(record: Model, *, kind: str, title: str, date: dt.date | None, can_write: bool, hidden=frozenset()) -> Entry:
    urls = _record_urls(record)
    if not can_write:
        urls["edit_url"] = urls["delete_url"] = ""
    return Entry(
        kind=kind,
        title=title,
        date=date,
        values=_record_values(record, hidden=hidden),
        anchor=f"{SLUG_FOR_MODEL[type(record)]}-{record.pk}",
        complete=getattr(record, "is_complete", False),
        **urls,
    )


def _adverse_event_entry(ae: AdverseEvent, *, can_write: bool) -> Entry:
    return _entry(
        ae,
        kind="irAE",
        title=f"irAE: {ae.get_ctcae_term_display()}, grade {ae.grade}",
        date=ae.onset_date,
        can_write=can_write,
    )


def _assessment_view(assessment, *, show_category: bool, enrollment_lock=None) -> dict[str, Any]:
    """The assessment card. While blinded, center staff get neither the category and score nor what they
    can be read back from: the factor levels, their reasons and sources, and the review-criteria line."""
    factors = assessment.factors if isinstance(assessment.factors, list) and show_category else []
    return {
        "category": assessment.get_category_display() if show_category else "",
        "category_code": assessment.category if show_category else "",
        "score": assessment.score if show_category else None,
        "blinded": not show_category,
        "model_version": assessment.model_version,
        "assessed_at": assessment.assessed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "kind": assessment_kind(assessment, enrollment_lock=enrollment_lock),
        "factors": [
            {
                "factor": FACTOR_LABELS.get(factor.get("factor", ""), str(factor.get("factor", ""))),
                "level": factor.get("level", ""),
                "reason": factor.get("reason", ""),
                "source": factor_source(factor),
            }
            for factor in factors
            if isinstance(factor, dict)
        ],
        # Read back from the locked inputs under the locked version; hidden with the category while blinded.
        "review_criteria": (
            locked_review_criteria_text(assessment.inputs, assessment.model_version) if show_category else ""
        ),
    }


def _assessment_views(episode: RechallengeEpisode, *, show_category: bool) -> list[dict[str, Any]]:
    assessments = list(episode.assessments.all())
    lock = enrollment_lock_of(assessments)
    return [_assessment_view(a, show_category=show_category, enrollment_lock=lock) for a in assessments]


# --- patient list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientRow:
    registry_id: str
    url: str
    site: str
    tumour_type: str
    sex: str
    year_of_birth: int
    episodes: int
    local_identifier: str | None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@records_view
def patient_list(request: HttpRequest) -> HttpResponse:
    """The user's patients: search by registry ID (or, at one's own sites, local identifier), by site."""
    access = access_for_user(request.user)
    search = request.GET.get("q", "").strip()[:64]
    sites = list(site_list_for_user(user=request.user))
    site_id = _int_or_none(request.GET.get("site"))
    if site_id not in {site.pk for site in sites}:
        site_id = None
    patients = patient_list_for_user(user=request.user, search=search, site_id=site_id)
    page = Paginator(patients, PAGE_SIZE).get_page(request.GET.get("page"))
    # Counted for the page's rows only, in one query: a per-row subquery in the page query would also
    # run for every row skipped by OFFSET, which makes deep pages of a 100,000-patient list crawl.
    episode_counts = dict(
        RechallengeEpisode.objects.filter(patient__in=[patient.pk for patient in page.object_list])
        .order_by()
        .values_list("patient")
        .annotate(n=Count("pk"))
    )
    rows = [
        PatientRow(
            registry_id=patient.registry_id,
            url=patient.get_absolute_url(),
            site=patient.site.code,
            tumour_type=patient.get_tumour_type_display(),
            sex=patient.get_sex_display(),
            year_of_birth=patient.year_of_birth,
            episodes=episode_counts.get(patient.pk, 0),
            local_identifier=patient.local_identifier if access.can_see_identifiers_of(patient.site_id) else None,
        )
        for patient in page.object_list
    ]
    return render(
        request,
        "clinical/patient_list.html",
        {
            "page": page,
            "rows": rows,
            "search": search,
            "sites": sites if len(sites) > 1 else [],
            "site_id": site_id,
            "show_local_identifier": access.sees_identifiers,
            "search_help": (
                "Registry ID, or the exact local identifier of a patient of your own site."
                if access.sees_identifiers
                else "Registry ID (or part of it)."
            ),
            "can_create": registration_sites_for_user(user=request.user).exists(),
        },
    )


# --- patient page ------------------------------------------------------------------------------------


@records_view
def patient_detail(request: HttpRequest, registry_id: str) -> HttpResponse:
    """The patient's case as a timeline, with derived values and links to add, edit and trace records."""
    access = access_for_user(request.user)
    patient = patient_get_for_user(user=request.user, registry_id=registry_id)
    can_write = access.can_write_site(patient.site_id)
    timeline = patient_timeline(patient=patient)
    course_values, episode_values = derived.timeline_derived(timeline)
    course: InitialCourse | None = timeline["initial_course"]
    episodes: list[RechallengeEpisode] = timeline["episodes"]
    has_assessments = any(episode.assessments.all() for episode in episodes)
    show_category = category_visible_to(user=request.user) if has_assessments else True
    add = {
        "initial_course": reverse("clinical:initial-course-create", kwargs={"registry_id": patient.registry_id}),
        "episode": reverse("clinical:episode-create", kwargs={"registry_id": patient.registry_id}),
        "adverse_event": reverse("clinical:adverse-event-create", kwargs={"registry_id": patient.registry_id}),
    }

    course_block = None
    if course is not None:
        course_block = _entry(
            course, kind="ICI-1", title="Initial ICI course (ICI-1)", date=course.start_date, can_write=can_write
        )
        course_block.children = [
            _adverse_event_entry(ae, can_write=can_write) for ae in timeline["initial_adverse_events"]
        ]

    episode_blocks = []
    enrolled = [episode for episode in episodes if episode.enrolled_at is not None or episode.assessments.all()]
    for episode in episodes:
        block = _entry(
            episode,
            kind="Rechallenge",
            title=f"Rechallenge {episode.sequence_number}: {episode.get_rechallenge_type_display()}",
            date=episode.start_date,
            can_write=can_write,
        )
        if episode in enrolled:
            block.keep(ENROLLED_EPISODE_KEPT)
        events = [
            _adverse_event_entry(ae, can_write=can_write) for ae in timeline["adverse_events_by_episode"][episode.pk]
        ]
        events += [
            _entry(
                response,
                kind="Response",
                title=f"Response: {response.get_category_display()} ({response.get_criteria_display()})",
                date=response.assessment_date,
                can_write=can_write,
            )
            for response in episode.responses.all()
        ]
        events += [
            _entry(
                follow_up,
                kind="Follow-up",
                title=f"Follow-up: {follow_up.get_vital_status_display().lower()}",
                date=follow_up.follow_up_date,
                can_write=can_write,
            )
            for follow_up in episode.follow_ups.all()
        ]
        block.children = sorted(events, key=lambda entry: (entry.date or dt.date.min, entry.kind))
        episode_blocks.append(
            {
                "entry": block,
                "derived": derived.episode_lines(episode_values[episode.pk]),
                "assessments": _assessment_views(episode, show_category=show_category),
                "category_hidden": not show_category,
                "enrolled": episode.enrolled_at is not None,
                "enroll_url": reverse("assessments:episode-enroll", kwargs={"pk": episode.pk}),
                "add_adverse_event": f"{add['adverse_event']}?episode={episode.pk}",
                "add_response": reverse("clinical:response-create", kwargs={"episode_pk": episode.pk}),
                "add_follow_up": reverse("clinical:follow-up-create", kwargs={"episode_pk": episode.pk}),
            }
        )

    hidden = _hidden_fields(access, patient)
    patient_entry = _entry(
        patient, kind="Patient", title=patient.registry_id, date=None, can_write=can_write, hidden=hidden
    )
    if enrolled:
        patient_entry.keep(PATIENT_WITH_ENROLLED_KEPT)
    return render(
        request,
        "clinical/patient_detail.html",
        {
            "patient": patient,
            "patient_entry": patient_entry,
            "site": str(patient.site),
            "can_write": can_write,
            "course": course_block,
            "course_derived": derived.course_lines(course_values) if course_values else [],
            "episodes": episode_blocks,
            "add": add,
            "can_add_episode": course is not None and course.stop_date is not None,
            "transfer_url": (
                reverse("clinical:patient-transfer", kwargs={"registry_id": patient.registry_id})
                if access.is_coordinator
                else ""
            ),
        },
    )


@records_view
def episode_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An episode lives on its patient's page."""
    episode = record_get_for_user(RechallengeEpisode, user=request.user, pk=pk)
    patient = record_get_for_user(Patient, user=request.user, pk=episode.patient_id)
    return redirect(f"{patient.get_absolute_url()}#episode-{episode.pk}")


# --- create / edit / delete ---------------------------------------------------------------------------


def _apply_error(form: RecordForm | DeleteForm, error: ApplicationError) -> None:
    """Put a service's refusal next to the fields it names (or at the top of the form)."""
    if not error.field_errors:
        form.add_error(None, error.message)
        return
    for name, problems in error.field_errors.items():
        form.add_error(name if name in form.fields else None, problems)


def _conflict_message(record: Model) -> str:
    latest = audit_history(record).first()
    who = str(latest.user) if latest is not None and latest.user is not None else "someone else"
    return (
        f"This record was changed by {who} since you opened it — your changes were not saved; "
        "reload to see the current values."
    )


def _back_to(patient: Patient, record: Model | None = None) -> str:
    url = patient.get_absolute_url()
    if record is None or isinstance(record, Patient):
        return url
    return f"{url}#{SLUG_FOR_MODEL[type(record)]}-{record.pk}"


def _render_form(
    request: HttpRequest, *, form: RecordForm, title: str, patient: Patient | None, **extra: Any
) -> HttpResponse:
    return render(
        request,
        "clinical/record_form.html",
        {
            "form": form,
            "title": title,
            "patient": patient,
            "cancel_url": patient.get_absolute_url() if patient else reverse("clinical:patient-list"),
            **extra,
        },
    )


def _create(
    request: HttpRequest,
    *,
    model: type[Model],
    patient: Patient | None,
    parent: dict[str, Any],
    title: str,
    form_kwargs: dict[str, Any] | None = None,
    initial: dict[str, Any] | None = None,
) -> HttpResponse:
    """Show a blank form; on a valid POST create the record through the service and go back."""
    form_class = FORM_FOR_MODEL[model]
    form_kwargs = form_kwargs or {}
    if request.method == "POST":
        form = form_class(request.POST, instance=model(**parent), **form_kwargs)
        if form.is_valid():
            try:
                record = services.record_create(
                    model=model,
                    data={**parent, **form.record_data()},
                    user=request.user,
                    channel=CHANNEL,
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, f"Saved {_describe(record)}.")
                return redirect(_back_to(patient or record, record))
    else:
        form = form_class(instance=model(**parent), initial=initial, **form_kwargs)
    return _render_form(request, form=form, title=title, patient=patient)


@records_view
def patient_create(request: HttpRequest) -> HttpResponse:
    refusal = registration_refusal(user=request.user)
    if refusal:  # a coordinator, or staff of closed sites only
        raise PermissionDenied(refusal)
    return _create(
        request, model=Patient, patient=None, parent={}, title="Register a patient", form_kwargs={"user": request.user}
    )


@records_view
def initial_course_create(request: HttpRequest, registry_id: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, registry_id=registry_id)
    _require_write(access_for_user(request.user), patient)
    existing = InitialCourse.objects.filter(patient=patient).only("pk").first()
    if existing is not None:
        return redirect("clinical:record-edit", model="initial-course", pk=existing.pk)
    return _create(
        request, model=InitialCourse, patient=patient, parent={"patient": patient}, title="Add the ICI-1 course"
    )


@records_view
def adverse_event_create(request: HttpRequest, registry_id: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, registry_id=registry_id)
    _require_write(access_for_user(request.user), patient)
    episodes = RechallengeEpisode.objects.filter(patient=patient).order_by("sequence_number")
    episode_id = _int_or_none(request.GET.get("episode"))
    initial = {"episode": episode_id} if episode_id and episodes.filter(pk=episode_id).exists() else {}
    return _create(
        request,
        model=AdverseEvent,
        patient=patient,
        parent={"patient": patient},
        title="Add an irAE",
        form_kwargs={"episodes": episodes},
        initial=initial,
    )


@records_view
def episode_create(request: HttpRequest, registry_id: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, registry_id=registry_id)
    _require_write(access_for_user(request.user), patient)
    last = RechallengeEpisode.objects.filter(patient=patient).order_by("-sequence_number").first()
    initial: dict[str, Any] = {"sequence_number": last.sequence_number + 1 if last else 1}
    if last is not None:
        initial["primary_agent"] = last.primary_agent
    else:
        course = InitialCourse.objects.filter(patient=patient).only("primary_agent").first()
        if course is not None:
            initial["primary_agent"] = course.primary_agent
    return _create(
        request,
        model=RechallengeEpisode,
        patient=patient,
        parent={"patient": patient},
        title="Add a rechallenge episode",
        initial=initial,
    )


def _episode_for_write(request: HttpRequest, episode_pk: int) -> tuple[RechallengeEpisode, Patient]:
    episode = record_get_for_user(RechallengeEpisode, user=request.user, pk=episode_pk)
    patient = record_get_for_user(Patient, user=request.user, pk=episode.patient_id)
    episode.patient = patient
    _require_write(access_for_user(request.user), patient)
    return episode, patient


@records_view
def response_create(request: HttpRequest, episode_pk: int) -> HttpResponse:
    episode, patient = _episode_for_write(request, episode_pk)
    return _create(
        request,
        model=ResponseAssessment,
        patient=patient,
        parent={"episode": episode},
        title=f"Add a response assessment to rechallenge {episode.sequence_number}",
    )


@records_view
def follow_up_create(request: HttpRequest, episode_pk: int) -> HttpResponse:
    episode, patient = _episode_for_write(request, episode_pk)
    return _create(
        request,
        model=FollowUp,
        patient=patient,
        parent={"episode": episode},
        title=f"Add a follow-up to rechallenge {episode.sequence_number}",
    )


def _form_kwargs(form_class: type[RecordForm], *, user, access: Access, patient: Patient) -> dict[str, Any]:
    if form_class is PatientForm:
        return {"user": user, "show_identifiers": access.can_see_identifiers_of(patient.site_id)}
    if form_class is AdverseEventForm:
        return {"episodes": RechallengeEpisode.objects.filter(patient=patient).order_by("sequence_number")}
    return {}


def _describe(record: Model) -> str:
    if isinstance(record, Patient):
        return f"patient {record.registry_id}"
    if isinstance(record, InitialCourse):
        return "the ICI-1 course"
    if isinstance(record, RechallengeEpisode):
        return f"rechallenge {record.sequence_number}"
    if isinstance(record, AdverseEvent):
        return f"irAE {record}"
    if isinstance(record, ResponseAssessment):
        return f"response assessment of {record.assessment_date}"
    return f"follow-up of {record.follow_up_date}"


@records_view
def record_edit(request: HttpRequest, model: str, pk: int) -> HttpResponse:
    """Edit any clinical record; a stale version is refused as a conflict instead of overwriting."""
    model_class = _model_for(model)
    access = access_for_user(request.user)
    record = _record_get(model_class, user=request.user, pk=pk)
    patient = _patient_of(record)
    _require_write(access, patient)
    form_class = FORM_FOR_MODEL[model_class]
    form_kwargs = _form_kwargs(form_class, user=request.user, access=access, patient=patient)
    title = f"Edit {_describe(record)}"
    conflict = ""
    if request.method == "POST":
        form = form_class(request.POST, instance=record, **form_kwargs)
        if form.is_valid():
            try:
                saved = services.record_update(
                    instance=record,
                    data=form.record_data(),
                    user=request.user,
                    channel=CHANNEL,
                    reason=form.cleaned_data["reason"],
                    expected_version=form.cleaned_data["version"],
                )
            except ConflictError:
                conflict = _conflict_message(record)
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                if saved.version == form.cleaned_data["version"]:
                    messages.info(request, f"No changes to {_describe(saved)}.")
                else:
                    messages.success(request, f"Saved {_describe(saved)}.")
                return redirect(_back_to(patient, saved))
    else:
        form = form_class(instance=record, **form_kwargs)
    return _render_form(
        request,
        form=form,
        title=title,
        patient=patient,
        conflict=conflict,
        reload_url=request.path,
        history_url=reverse("clinical:record-history", kwargs={"model": model, "pk": pk}),
    )


@records_view
def record_delete(request: HttpRequest, model: str, pk: int) -> HttpResponse:
    """Confirm, then delete through the service (which audits every record removed).

    The page lists what the deletion removes with the record; a record that cannot be deleted (an
    enrolled episode, a patient with one) is explained and offers no button. A POST without the
    version the page was loaded with, or with an older one, deletes nothing and shows the conflict.
    """
    model_class = _model_for(model)
    access = access_for_user(request.user)
    record = _record_get(model_class, user=request.user, pk=pk)
    patient = _patient_of(record)
    _require_write(access, patient)
    conflict = ""
    if request.method == "POST":
        form = DeleteForm(request.POST)
        if form.is_valid():
            description = _describe(record)
            try:
                services.record_delete(
                    instance=record,
                    user=request.user,
                    channel=CHANNEL,
                    reason=form.cleaned_data["reason"],
                    expected_version=form.cleaned_data["version"],
                )
            except ConflictError:
                conflict = _conflict_message(record)
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, f"Deleted {description}.")
                if isinstance(record, Patient):
                    return redirect("clinical:patient-list")
                return redirect(patient.get_absolute_url())
        elif "version" in form.errors:  # a form without the loaded version could be overwriting anything
            conflict = _conflict_message(record)
    else:
        form = DeleteForm(initial={"version": record.version})
    preview = services.record_delete_preview(record=record)
    return render(
        request,
        "clinical/record_confirm_delete.html",
        {
            "form": form,
            "title": f"Delete {_describe(record)}",
            "patient": patient,
            "values": _record_values(record, hidden=_hidden_fields(access, patient)),
            "dependants": preview.dependants,
            "complete": preview.complete,
            "removed": len(preview.removed),
            "refusal": preview.refusal,
            "cancel_url": _back_to(patient, record),
            "conflict": conflict,
        },
    )


@records_view
def patient_transfer(request: HttpRequest, registry_id: str) -> HttpResponse:
    """A coordinator moves a patient, with all their records, to another site: audited, with a reason.

    The one way a patient changes site; center staff ask a coordinator (403 here).
    """
    patient = patient_get_for_user(user=request.user, registry_id=registry_id)
    try:
        services.patient_transfer_check_user(user=request.user)
    except ApplicationError as error:
        raise PermissionDenied(error.message) from None
    conflict = ""
    if request.method == "POST":
        form = PatientTransferForm(request.POST, patient=patient)
        if form.is_valid():
            try:
                moved = services.patient_transfer(
                    patient=patient,
                    to_site=form.cleaned_data["site"],
                    user=request.user,
                    reason=form.cleaned_data["reason"],
                    channel=CHANNEL,
                    expected_version=form.cleaned_data["version"],
                )
            except ConflictError:
                conflict = _conflict_message(patient)
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, f"Transferred patient {moved.registry_id} to site {moved.site.code}.")
                return redirect(moved.get_absolute_url())
        elif "version" in form.errors:
            conflict = _conflict_message(patient)
    else:
        form = PatientTransferForm(patient=patient)
    return render(
        request,
        "clinical/patient_transfer.html",
        {
            "form": form,
            "title": f"Transfer patient {patient.registry_id}",
            "patient": patient,
            "site": str(patient.site),
            "cancel_url": patient.get_absolute_url(),
            "conflict": conflict,
        },
    )


# --- history --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    who: str
    when: str
    channel: str
    action: str
    changes: list[tuple[str, str, str]]
    reason: str


def _history_value(value: Any, choices: dict[Any, str] | None = None) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if choices and value in choices:
        return f"{choices[value]} ({value})"
    return str(value)


@records_view
def record_history(request: HttpRequest, model: str, pk: int) -> HttpResponse:
    """The audit trail of one record: who changed what, when (UTC), through which channel, and why."""
    model_class = _model_for(model)
    access = access_for_user(request.user)
    record = _record_get(model_class, user=request.user, pk=pk)
    patient = _patient_of(record)
    hidden = _hidden_fields(access, patient) if model_class is Patient else frozenset()
    fields = {f.name: f for f in model_class._meta.concrete_fields}
    labels = {name: str(field.verbose_name) for name, field in fields.items()}
    choices = {name: {key: str(text) for key, text in field.flatchoices} for name, field in fields.items()}
    rows = []
    for entry in audit_history(record):
        changes = [
            (
                capfirst(labels.get(name, name)),
                "(hidden)" if name in hidden else _history_value(old, choices.get(name)),
                "(hidden)" if name in hidden else _history_value(new, choices.get(name)),
            )
            for name, (old, new) in entry.changes.items()
        ]
        rows.append(
            HistoryRow(
                who=str(entry.user) if entry.user else "System",
                when=entry.timestamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                channel=entry.get_channel_display(),
                action=entry.get_action_display(),
                changes=changes,
                reason=entry.reason,
            )
        )
    return render(
        request,
        "clinical/record_history.html",
        {
            "title": f"History of {_describe(record)}",
            "patient": patient,
            "rows": rows,
            "back_url": _back_to(patient, record),
        },
    )
