"""Server-rendered data entry for center staff: patient list, patient page, CRF forms, record history.

Every record is looked up through ``apps.clinical.selectors`` (another site's record is a 404) and
every write goes through ``apps.clinical.services`` with channel ``web`` (validation, site check,
optimistic locking and audit in one place). Forms only check the input's shape. How records read is
``presenters``' job (and ``derived.py``'s for computed values), what differs between record types
comes from their declarations (``records``), and what other apps show in an episode comes from the
panels they register (``panels``); templates only lay it out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.accounts.selectors import Access, access_for_user, registration_refusal, site_list_for_user
from apps.core.errors import ApplicationError, ConflictError
from apps.core.forms import add_application_error
from apps.core.records import RecordType, record_type_by_slug, record_type_for

from . import derived, presenters, services
from .forms import (
    DeleteForm,
    PatientTransferForm,
    RecordForm,
    registration_sites_for_user,
)
from .models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from .panels import episode_panels_for, patient_list_columns, patient_panels_for
from .presenters import back_to, conflict_message, describe, entry_for, hidden_fields
from .selectors import (
    BadCursor,
    patient_episodes,
    patient_get_for_user,
    patient_initial_course,
    patient_last_episode,
    patient_list_page,
    patient_list_sorts,
    patient_summary_of,
    patient_timeline,
    record_get_for_user,
)

PAGE_SIZE = 50
CHANNEL = "web"

#: The "Save and …" buttons beside "Save": the ``then`` value each posts, and its label. "Save and add another"
#: on the forms of the records a case has several of; "Save and add ICI-1" when registering a patient.
ADD_ANOTHER = ("another", "Save and add another")
ADD_ICI1 = ("ici1", "Save and add ICI-1")
SAVE_AND: dict[type[Model], tuple[tuple[str, str], ...]] = {
    AdverseEvent: (ADD_ANOTHER,),
    ResponseAssessment: (ADD_ANOTHER,),
    FollowUp: (ADD_ANOTHER,),
}

#: Why the patient page offers no "Delete" (the service refuses these deletions with 409 as well).
ENROLLED_EPISODE_KEPT = "Enrolled: cannot be deleted, its locked decision-model assessment is kept for validation"
PATIENT_WITH_ENROLLED_KEPT = "Cannot be deleted: an enrolled rechallenge's locked assessment is kept for validation"

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


def _record_in_reach(request: HttpRequest, slug: str, pk: int) -> tuple[RecordType, Access, Model, Patient]:
    """The record a URL names, if within the user's reach (404 otherwise, never 403: nothing is revealed),
    with its record type's declaration, the user's access and the record's patient."""
    try:
        record_type = record_type_by_slug(slug)
    except LookupError:
        raise Http404("No such record type.") from None
    record = record_get_for_user(record_type.model, user=request.user, pk=pk)
    return record_type, access_for_user(request.user), record, record_type.patient_of(record)


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
    has_initial_course: bool = False
    case_status: str = ""
    case_status_label: str = ""
    enrolled: bool = False
    last_follow_up: Any = None
    #: The values of the columns apps above clinical add (``panels.patient_list_columns``), in their order.
    extra: tuple[tuple[Any, str], ...] = ()


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@records_view
def patient_list(request: HttpRequest) -> HttpResponse:
    """The user's patients, a keyset page at a time: search by the start of a registry ID (or, at one's own
    sites, of a local identifier), filter by site, sort by any column; "Next" and "Previous" carry a cursor."""
    access = access_for_user(request.user)
    search = request.GET.get("q", "").strip()[:64]
    sites = list(site_list_for_user(user=request.user))
    site_id = _int_or_none(request.GET.get("site"))
    if site_id not in {site.pk for site in sites}:
        site_id = None
    sorts = patient_list_sorts(user=request.user)
    sort = request.GET.get("sort", "registry_id")
    if sort.removeprefix("-") not in sorts:
        sort = "registry_id"
    query = {"user": request.user, "search": search, "site_id": site_id, "sort": sort, "size": PAGE_SIZE}
    try:
        page = patient_list_page(**query, after=request.GET.get("after", ""), before=request.GET.get("before", ""))
    except BadCursor:  # an edited link, or one of another order: the first page
        page = patient_list_page(**query)
    # The page's rows only: a value per row computed in the page query would run for every row of the list.
    page_ids = [patient.pk for patient in page.rows]
    columns = patient_list_columns()
    extra_values = [column.values(patient_ids=page_ids, user=request.user) for column in columns]
    rows = []
    for patient in page.rows:
        summary = patient_summary_of(patient)
        rows.append(
            PatientRow(
                registry_id=patient.registry_id,
                url=patient.get_absolute_url(),
                site=patient.site.code,
                tumour_type=patient.get_tumour_type_display(),
                sex=patient.get_sex_display(),
                year_of_birth=patient.year_of_birth,
                episodes=summary.episode_count,
                local_identifier=patient.local_identifier if access.can_see_identifiers_of(patient.site_id) else None,
                has_initial_course=summary.has_initial_course,
                case_status=summary.status.value,
                case_status_label=summary.status.label,
                enrolled=summary.enrolled,
                last_follow_up=summary.last_follow_up_date,
                extra=tuple(
                    (values.get(patient.pk, column.default), column.url(patient) if column.url else "")
                    for column, values in zip(columns, extra_values, strict=True)
                ),
            )
        )
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
                "The start of a registry ID, or of the local identifier of a patient of your own site."
                if access.sees_identifiers
                else "The start of a registry ID (e.g. its site code)."
            ),
            "can_create": registration_sites_for_user(user=request.user).exists(),
            "sort": sort,
            "sort_links": (sort_links := _sort_links(sort, sorts)),
            "extra_headers": [sort_links[column.key] for column in columns],
        },
    )


def _sort_links(sort: str, sorts: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Per sortable column: the ``?sort=`` its header links to and the ``aria-sort`` it has now. A first click
    sorts registry ID and site ascending, the status columns descending (the latest, the most, signed first);
    a second click reverses."""
    current, descending = sort.removeprefix("-"), sort.startswith("-")
    links = {}
    for key, column in sorts.items():
        if key == current:
            links[key] = {
                "label": column.label,
                "next": key if descending else f"-{key}",
                "aria": "descending" if descending else "ascending",
            }
        else:
            first = key if key in ("registry_id", "site") else f"-{key}"
            links[key] = {"label": column.label, "next": first, "aria": "none"}
    return links


# --- patient page ------------------------------------------------------------------------------------


@records_view
def patient_detail(request: HttpRequest, registry_id: str) -> HttpResponse:
    """The patient's case as a timeline, with derived values and links to add, edit and trace records."""
    access = access_for_user(request.user)
    patient = patient_get_for_user(user=request.user, registry_id=registry_id)
    # A signed case accepts no change until a coordinator unlocks it: no add, edit or delete links are offered.
    can_write = access.can_write_site(patient.site_id) and patient.signed_at is None
    timeline = patient_timeline(patient=patient)
    course_values, episode_values = derived.timeline_derived(timeline)
    course: InitialCourse | None = timeline["initial_course"]
    episodes: list[RechallengeEpisode] = timeline["episodes"]
    panels = episode_panels_for(episodes=episodes, user=request.user, can_write=can_write)
    add = {
        "initial_course": reverse("clinical:initial-course-create", kwargs={"registry_id": patient.registry_id}),
        "episode": reverse("clinical:episode-create", kwargs={"registry_id": patient.registry_id}),
        "adverse_event": reverse("clinical:adverse-event-create", kwargs={"registry_id": patient.registry_id}),
    }

    course_block = None
    if course is not None:
        course_block = entry_for(course, can_write=can_write)
        course_block.children = [entry_for(ae, can_write=can_write) for ae in timeline["initial_adverse_events"]]

    episode_blocks = []
    enrolled = [episode for episode in episodes if episode.enrolled_at is not None or episode.assessments.all()]
    for episode in episodes:
        block = entry_for(episode, can_write=can_write)
        if episode in enrolled:
            block.keep(ENROLLED_EPISODE_KEPT)
        events = [
            *timeline["adverse_events_by_episode"][episode.pk],
            *episode.responses.all(),
            *episode.follow_ups.all(),
        ]
        block.children = presenters.by_date([entry_for(event, can_write=can_write) for event in events])
        episode_blocks.append(
            {
                "entry": block,
                "derived": derived.episode_lines(episode_values[episode.pk]),
                "panels": panels[episode.pk],
                "add_adverse_event": f"{add['adverse_event']}?episode={episode.pk}",
                "add_response": reverse("clinical:response-create", kwargs={"episode_pk": episode.pk}),
                "add_follow_up": reverse("clinical:follow-up-create", kwargs={"episode_pk": episode.pk}),
            }
        )

    patient_entry = entry_for(patient, can_write=can_write, hidden=hidden_fields(access, patient))
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
            "next_step": presenters.next_step(patient=patient, timeline=timeline) if can_write else None,
            "can_add_episode": course is not None and course.stop_date is not None,
            "patient_panels": patient_panels_for(
                patient=patient, timeline=timeline, user=request.user, can_write=can_write
            ),
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


def _render_form(
    request: HttpRequest,
    *,
    form: RecordForm,
    title: str,
    patient: Patient | None,
    save_and: tuple[tuple[str, str], ...] = (),
    **extra: Any,
) -> HttpResponse:
    return render(
        request,
        "clinical/record_form.html",
        {
            "form": form,
            "title": title,
            "patient": patient,
            "cancel_url": patient.get_absolute_url() if patient else reverse("clinical:patient-list"),
            "save_and": save_and,
            **extra,
        },
    )


def _after_save(request: HttpRequest, *, record: Model, patient: Patient, offered: tuple[tuple[str, str], ...]) -> str:
    """Where a saved form goes: the next blank form its "Save and …" button asked for, else back to the patient."""
    then = request.POST.get("then", "")
    if then not in {value for value, _ in offered}:
        return back_to(patient, record)
    if then == ADD_ICI1[0]:
        return reverse("clinical:initial-course-create", kwargs={"registry_id": patient.registry_id})
    if isinstance(record, AdverseEvent):  # another irAE of the same course
        url = reverse("clinical:adverse-event-create", kwargs={"registry_id": patient.registry_id})
        return f"{url}?episode={record.episode_id}" if record.episode_id else url
    name = "clinical:response-create" if isinstance(record, ResponseAssessment) else "clinical:follow-up-create"
    return reverse(name, kwargs={"episode_pk": record.episode_id})


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
    """Show a blank form; on a valid POST create the record through the service and go back (or on to the
    next blank form a "Save and …" button asked for)."""
    form_class = record_type_for(model).form
    form_kwargs = form_kwargs or {}
    offered = ((ADD_ICI1,) if model is Patient else ()) + SAVE_AND.get(model, ())
    if request.method == "POST":
        form = form_class(request.POST, instance=model(**parent), **form_kwargs)
        if form.is_valid():
            try:
                record = services.record_create(
                    model=model,
                    data={**parent, **form.record_data()},
                    user=request.user,
                    channel=CHANNEL,
                    reason=form.audit_reason(),
                )
            except ApplicationError as error:
                add_application_error(form, error)
            else:
                messages.success(request, f"Saved {describe(record)}.")
                return redirect(_after_save(request, record=record, patient=patient or record, offered=offered))
    else:
        form = form_class(instance=model(**parent), initial=initial, **form_kwargs)
    return _render_form(request, form=form, title=title, patient=patient, save_and=offered)


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
    existing = patient_initial_course(patient=patient)
    if existing is not None:
        return redirect("clinical:record-edit", model="initial-course", pk=existing.pk)
    return _create(
        request, model=InitialCourse, patient=patient, parent={"patient": patient}, title="Add the ICI-1 course"
    )


@records_view
def adverse_event_create(request: HttpRequest, registry_id: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, registry_id=registry_id)
    _require_write(access_for_user(request.user), patient)
    episodes = patient_episodes(patient=patient)
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
    last = patient_last_episode(patient=patient)
    initial: dict[str, Any] = {"sequence_number": last.sequence_number + 1 if last else 1}
    if last is not None:
        initial["primary_agent"] = last.primary_agent
    else:
        course = patient_initial_course(patient=patient, fields=("primary_agent",))
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


@records_view
def record_edit(request: HttpRequest, model: str, pk: int) -> HttpResponse:
    """Edit any clinical record; a stale version is refused as a conflict instead of overwriting."""
    record_type, access, record, patient = _record_in_reach(request, model, pk)
    _require_write(access, patient)
    form_class = record_type.form
    form_kwargs = form_class.edit_kwargs(user=request.user, access=access, patient=patient)
    title = f"Edit {describe(record)}"
    offered = SAVE_AND.get(record_type.model, ())
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
                    reason=form.audit_reason(),
                    expected_version=form.cleaned_data["version"],
                )
            except ConflictError:
                conflict = conflict_message(record)
            except ApplicationError as error:
                add_application_error(form, error)
            else:
                if saved.version == form.cleaned_data["version"]:
                    messages.info(request, f"No changes to {describe(saved)}.")
                else:
                    messages.success(request, f"Saved {describe(saved)}.")
                return redirect(_after_save(request, record=saved, patient=patient, offered=offered))
    else:
        form = form_class(instance=record, **form_kwargs)
    return _render_form(
        request,
        form=form,
        title=title,
        patient=patient,
        save_and=offered,
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
    _, access, record, patient = _record_in_reach(request, model, pk)
    _require_write(access, patient)
    conflict = ""
    if request.method == "POST":
        form = DeleteForm(request.POST)
        if form.is_valid():
            description = describe(record)
            try:
                services.record_delete(
                    instance=record,
                    user=request.user,
                    channel=CHANNEL,
                    reason=form.cleaned_data["reason"],
                    expected_version=form.cleaned_data["version"],
                )
            except ConflictError:
                conflict = conflict_message(record)
            except ApplicationError as error:
                add_application_error(form, error)
            else:
                messages.success(request, f"Deleted {description}.")
                if isinstance(record, Patient):
                    return redirect("clinical:patient-list")
                return redirect(patient.get_absolute_url())
        elif "version" in form.errors:  # a form without the loaded version could be overwriting anything
            conflict = conflict_message(record)
    else:
        form = DeleteForm(initial={"version": record.version})
    preview = services.record_delete_preview(record=record)
    return render(
        request,
        "clinical/record_confirm_delete.html",
        {
            "form": form,
            "title": f"Delete {describe(record)}",
            "patient": patient,
            "values": presenters.record_values(record, hidden=hidden_fields(access, record)),
            "dependants": preview.dependants,
            "complete": preview.complete,
            "removed": len(preview.removed),
            "refusal": preview.refusal,
            "cancel_url": back_to(patient, record),
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
                conflict = conflict_message(patient)
            except ApplicationError as error:
                add_application_error(form, error)
            else:
                messages.success(request, f"Transferred patient {moved.registry_id} to site {moved.site.code}.")
                return redirect(moved.get_absolute_url())
        elif "version" in form.errors:
            conflict = conflict_message(patient)
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


@records_view
def record_history(request: HttpRequest, model: str, pk: int) -> HttpResponse:
    """The audit trail of one record: who changed what, when (UTC), through which channel, and why."""
    _, access, record, patient = _record_in_reach(request, model, pk)
    hidden = hidden_fields(access, record)
    return render(
        request,
        "clinical/record_history.html",
        {
            "title": f"History of {describe(record)}",
            "patient": patient,
            "rows": presenters.history_rows(record, hidden=hidden, access=access),
            "back_url": back_to(patient, record),
        },
    )
