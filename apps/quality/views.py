"""Pages of the Data Resolution Workflow: the query inbox, a query's thread with its steps, raising a query.

Center staff see their sites' queries (open ones first) and answer them; coordinators see every query (answered
ones, waiting for their decision, first), raise queries from the patient page, and close or re-open them.
Investigators: 403. A query out of reach: 404. Every step goes through ``apps.quality.services`` (channel
``web``); a refusal comes back on the form that asked for it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.selectors import access_for_user, site_list_for_user
from apps.clinical.presenters import display_value, hidden_fields
from apps.clinical.selectors import record_get_for_user
from apps.core.errors import ApplicationError
from apps.core.forms import add_application_error
from apps.core.models import AuditChannel
from apps.core.records import record_type_by_slug
from registry.quality import RULES

from . import selectors, services
from .forms import QueryAnswerForm, QueryCloseForm, QueryCommentForm, QueryRaiseForm, QueryReopenForm
from .models import DataQuery

CHANNEL = AuditChannel.WEB
PAGE_SIZE = 50
NO_ACCESS = "Your role does not give access to data queries."
Status = DataQuery.Status

#: The inbox's status filter: what is still waiting by default.
STATUS_FILTERS = (
    ("", "Open and answered"),
    ("open", "Open (waiting for the site)"),
    ("answered", "Answered (waiting for a coordinator)"),
    ("closed", "Closed"),
    ("all", "All"),
)


def _require_reach(request: HttpRequest) -> str:
    reach = selectors.query_reach(user=request.user)
    if not reach:
        raise PermissionDenied(NO_ACCESS)
    return reach


def _refused(error: ApplicationError) -> None:
    """A refusal that is no form error: the role (403) or the reach (404)."""
    if error.status == 403:
        raise PermissionDenied(error.message) from error
    if error.status == 404:
        raise Http404(error.message) from error


# --- the inbox ------------------------------------------------------------------------------------------


def _row(query: DataQuery) -> dict[str, Any]:
    return {
        "query": query,
        "url": reverse("quality:query-detail", args=[query.pk]),
        "age": selectors.age_days(query),
        "rule": selectors.rule_title(query),
        "record": selectors.record_label(query),
        "field": selectors.field_label(query),
        "record_url": selectors.record_anchor_url(query),
    }


@login_required
def query_list(request: HttpRequest) -> HttpResponse:
    """The inbox: what waits for the user first (open queries for center staff, answered ones for coordinators),
    oldest first; filters by status, site (coordinators, or staff of several sites) and rule."""
    reach = _require_reach(request)
    wanted = request.GET.get("status", "")
    if wanted not in {value for value, _ in STATUS_FILTERS}:
        wanted = ""
    sites = list(site_list_for_user(user=request.user))
    site_code = request.GET.get("site", "")
    if site_code not in {site.code for site in sites}:
        site_code = ""
    rule_ids = {rule.id for rule in RULES} | {"manual"}
    rule_id = request.GET.get("rule", "")
    if rule_id not in rule_ids:
        rule_id = ""
    queries = selectors.query_list_for_user(
        user=request.user,
        status="" if wanted in ("", "all") else wanted,
        site_code=site_code,
        rule_id=rule_id,
        waiting_first=True,
    )
    if wanted == "":
        queries = queries.exclude(status=Status.CLOSED)
    page = Paginator(queries, PAGE_SIZE).get_page(request.GET.get("page"))
    filters = {"status": wanted, "site": site_code, "rule": rule_id}
    return render(
        request,
        "quality/query_list.html",
        {
            "page": page,
            "rows": [_row(query) for query in page.object_list],
            "is_coordinator": reach == "all",
            "status_filters": STATUS_FILTERS,
            "sites": sites if len(sites) > 1 else [],
            "rules": [(rule.id, rule.title) for rule in RULES] + [("manual", selectors.RAISED_BY_A_COORDINATOR)],
            "filters": filters,
            "filter_query": "&".join(f"{key}={value}" for key, value in filters.items() if value),
        },
    )


# --- one query ------------------------------------------------------------------------------------------


def _detail(request: HttpRequest, query: DataQuery, *, bound: dict[str, forms.Form] | None = None, status: int = 200):
    """The thread and the forms of the steps the user may take now (``bound``: a form sent back with errors)."""
    access = access_for_user(request.user)
    confirmable = selectors.is_confirmable(query)
    is_staff_of_site = query.site_id in access.site_ids
    step_forms: dict[str, forms.Form] = {}
    if is_staff_of_site and query.status == Status.OPEN:
        step_forms["answer"] = QueryAnswerForm(confirmable=confirmable)
    if access.is_coordinator and query.status != Status.CLOSED:
        initial = {"resolution": query.resolution} if query.resolution else {}
        step_forms["close"] = QueryCloseForm(confirmable=confirmable, initial=initial)
    if access.is_coordinator and query.status != Status.OPEN:
        step_forms["reopen"] = QueryReopenForm()
    step_forms["comment"] = QueryCommentForm()
    step_forms.update(bound or {})
    return render(
        request,
        "quality/query_detail.html",
        {
            "query": query,
            "row": _row(query),
            "value_seen": selectors.shown_value_seen(query, access),
            "comments": list(selectors.query_comments(query=query)),
            "forms": step_forms,
            "proposed_confirmed": query.status == Status.ANSWERED
            and query.resolution == DataQuery.Resolution.CONFIRMED,
            "is_coordinator": access.is_coordinator,
        },
        status=status,
    )


@login_required
def query_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_reach(request)
    return _detail(request, selectors.query_get_for_user(user=request.user, pk=pk))


def _step(request: HttpRequest, pk: int, *, name: str, form_class, run, done: str, **form_kwargs: Any) -> HttpResponse:
    """One step on a query: the form, the service, back to the thread (or the form with its errors)."""
    _require_reach(request)
    query = selectors.query_get_for_user(user=request.user, pk=pk)
    form = form_class(request.POST, **form_kwargs)
    if form.is_valid():
        try:
            run(query, form.cleaned_data)
        except ApplicationError as error:
            _refused(error)
            add_application_error(form, error)
        else:
            messages.success(request, done.format(pk=query.pk))
            return redirect("quality:query-detail", pk=query.pk)
    return _detail(request, selectors.query_get_for_user(user=request.user, pk=pk), bound={name: form})


@login_required
@require_POST
def query_answer(request: HttpRequest, pk: int) -> HttpResponse:
    if not access_for_user(request.user).is_site_staff:
        raise PermissionDenied(services.ONLY_SITE_STAFF_ANSWER)

    def run(query: DataQuery, data: dict[str, Any]) -> None:
        services.query_answer(
            query=query, user=request.user, text=data["text"], confirmed=data.get("confirmed", False), channel=CHANNEL
        )

    confirmable = selectors.is_confirmable(selectors.query_get_for_user(user=request.user, pk=pk))
    return _step(
        request,
        pk,
        name="answer",
        form_class=QueryAnswerForm,
        run=run,
        done="Query #{pk} answered.",
        confirmable=confirmable,
    )


def _require_coordinator(request: HttpRequest) -> None:
    if not access_for_user(request.user).is_coordinator:
        raise PermissionDenied(services.ONLY_COORDINATORS_DECIDE)


@login_required
@require_POST
def query_close(request: HttpRequest, pk: int) -> HttpResponse:
    _require_coordinator(request)

    def run(query: DataQuery, data: dict[str, Any]) -> None:
        services.query_close(
            query=query, user=request.user, resolution=data["resolution"], text=data["text"], channel=CHANNEL
        )

    confirmable = selectors.is_confirmable(selectors.query_get_for_user(user=request.user, pk=pk))
    return _step(
        request,
        pk,
        name="close",
        form_class=QueryCloseForm,
        run=run,
        done="Query #{pk} closed.",
        confirmable=confirmable,
    )


@login_required
@require_POST
def query_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    _require_coordinator(request)

    def run(query: DataQuery, data: dict[str, Any]) -> None:
        services.query_reopen(query=query, user=request.user, text=data["text"], channel=CHANNEL)

    return _step(request, pk, name="reopen", form_class=QueryReopenForm, run=run, done="Query #{pk} re-opened.")


@login_required
@require_POST
def query_comment(request: HttpRequest, pk: int) -> HttpResponse:
    def run(query: DataQuery, data: dict[str, Any]) -> None:
        services.query_comment(query=query, user=request.user, text=data["text"], channel=CHANNEL)

    return _step(
        request, pk, name="comment", form_class=QueryCommentForm, run=run, done="Comment added to query #{pk}."
    )


# --- raising a query ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def query_raise(request: HttpRequest, model: str, pk: int) -> HttpResponse:
    """A coordinator raises a query on one field of a record (reached from the record on the patient page)."""
    access = access_for_user(request.user)
    if not access.is_coordinator:
        raise PermissionDenied(services.ONLY_COORDINATORS_RAISE)
    try:
        record_type = record_type_by_slug(model)
    except LookupError:
        raise Http404("No such record type.") from None
    record = record_get_for_user(record_type.model, user=request.user, pk=pk)
    patient = record_type.patient_of(record)
    hidden = hidden_fields(access, record)
    fields = selectors.queryable_fields(record_type)
    values = {choice.name: display_value(record, choice.name) for choice in fields if choice.name not in hidden}
    initial = {"field": request.GET.get("field", "")}
    form = QueryRaiseForm(request.POST or None, fields=fields, values=values, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            raised = services.query_raise(
                user=request.user,
                record_type=record_type.slug,
                record_id=record.pk,
                field=form.cleaned_data["field"],
                message=form.cleaned_data["message"],
                coordinators_only=form.cleaned_data["coordinators_only"],
                channel=CHANNEL,
            )
        except ApplicationError as error:
            _refused(error)
            add_application_error(form, error)
        else:
            messages.success(request, f"Query #{raised.pk} raised; the site sees it in its inbox.")
            return redirect("quality:query-detail", pk=raised.pk)
    return render(
        request,
        "quality/query_raise.html",
        {
            "form": form,
            "record_type": record_type,
            "record_title": record_type.title(record),
            "patient": patient,
            "record_url": selectors.record_anchor_url_for(patient=patient, slug=record_type.slug, pk=record.pk),
        },
    )
