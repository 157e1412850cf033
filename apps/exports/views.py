"""Pages of exports.

Investigators see their projects, ask for exports, follow the build (the page refreshes itself while a
worker builds) and download ready bundles; coordinators see every project and request, and approve or
refuse from the queue. Center staff and others: 403; a project or request out of reach: 404. An expired
download answers 410 with the registry's error page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import ApplicationError
from apps.core.forms import add_application_error
from apps.validation.selectors import validation_run_list_for_user
from registry.deid import PROFILES, TABLE_TITLES

from . import selectors, services
from .apis import zip_response
from .forms import FORMAT_LABELS, DecisionForm, ExportProjectForm, ExportRequestForm, MemberAddForm

NO_ACCESS = "Your role does not give access to exports."


def _require_reader(request: HttpRequest) -> str:
    reach = selectors.export_reach(user=request.user)
    if not reach:
        raise PermissionDenied(NO_ACCESS)
    return reach


def _request_rows(requests) -> list:
    return list(requests[:50])


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The investigator's workspace (projects, requests, ready downloads, validation reports); the coordinator's
    overview (queue, every request)."""
    reach = _require_reader(request)
    context = {
        "projects": selectors.project_list_for_user(user=request.user).prefetch_related("members"),
        "requests": _request_rows(selectors.request_list_for_user(user=request.user)),
        "ready": list(selectors.ready_downloads_for_user(user=request.user)[:20]),
        "queue": list(selectors.approval_queue()) if reach == "all" else [],
        "runs": list(validation_run_list_for_user(user=request.user)[:5]),
        "is_coordinator": reach == "all",
        "can_request": selectors.can_request_exports(user=request.user),
    }
    return render(request, "exports/index.html", context)


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """Requests waiting for a coordinator's decision."""
    if selectors.export_reach(user=request.user) != "all":
        raise PermissionDenied(services.ONLY_COORDINATORS)
    return render(request, "exports/queue.html", {"queue": selectors.approval_queue(), "form": DecisionForm()})


@login_required
@require_GET
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_reader(request)
    project = selectors.project_get_for_user(user=request.user, pk=pk)
    context = {
        "project": project,
        "members": project.members.order_by("username"),
        "requests": _request_rows(selectors.request_list_for_user(user=request.user).filter(project=project)),
        "can_request": selectors.can_request_exports(user=request.user),
        "is_coordinator": selectors.export_reach(user=request.user) == "all",
    }
    return render(request, "exports/project_detail.html", context)


def _require_coordinator(request: HttpRequest) -> None:
    if selectors.export_reach(user=request.user) != "all":
        raise PermissionDenied(services.ONLY_COORDINATORS_PROJECTS)


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    """A coordinator creates a project (title, approval reference, what the approval allows), then adds members."""
    _require_coordinator(request)
    form = ExportProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.export_project_create(user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            add_application_error(form, error)
        else:
            messages.info(request, f"Project {project.title} created; add its investigators now.")
            return redirect("exports:project-members", pk=project.pk)
    return render(request, "exports/project_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def project_members(request: HttpRequest, pk: int) -> HttpResponse:
    """A coordinator adds investigators to a project (POST ``member``) or removes one (POST ``remove``)."""
    _require_coordinator(request)
    project = selectors.project_get_for_user(user=request.user, pk=pk)
    form = MemberAddForm(project=project)
    if request.method == "POST" and "remove" in request.POST:
        member = project.members.filter(pk=selectors.pk_or_zero(request.POST["remove"])).first()
        try:
            services.export_project_member_remove(user=request.user, project=project, member=member)
        except ApplicationError as error:
            messages.error(request, "; ".join(m for ms in error.field_errors.values() for m in ms) or error.message)
        else:
            messages.info(request, f"{member.get_username()} removed from the project.")
            return redirect("exports:project-members", pk=project.pk)
    elif request.method == "POST":
        form = MemberAddForm(request.POST, project=project)
        if form.is_valid():
            member = form.cleaned_data["member"]
            try:
                services.export_project_member_add(user=request.user, project=project, member=member)
            except ApplicationError as error:
                add_application_error(form, error)
            else:
                messages.info(request, f"{member.get_username()} added to the project.")
                return redirect("exports:project-members", pk=project.pk)
    context = {"project": project, "members": project.members.order_by("username"), "form": form}
    return render(request, "exports/project_members.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest, pk: int) -> HttpResponse:
    """An investigator's request for an export of the project's data."""
    if not selectors.can_request_exports(user=request.user):
        raise PermissionDenied(services.ONLY_INVESTIGATORS)
    project = selectors.project_get_for_user(user=request.user, pk=pk)
    form = ExportRequestForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.export_request_create(
                user=request.user,
                project=project,
                datasets=data["datasets"],
                formats=data["formats"],
                profile=data["profile"],
                filters=form.filters(),
                purpose=data.get("purpose", ""),
            )
        except ApplicationError as error:
            if error.status == 403:
                raise PermissionDenied(error.message) from error
            add_application_error(form, error)
        else:
            messages.info(request, f"Export {created.export_id} requested.")
            return redirect(created.get_absolute_url())
    profiles = [PROFILES[name] for name, _ in form.fields["profile"].choices]
    return render(request, "exports/request_form.html", {"project": project, "form": form, "profiles": profiles})


@login_required
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One request: what was asked, its decision, its progress while building, its file when ready."""
    reach = _require_reader(request)
    export = selectors.request_get_for_user(user=request.user, pk=pk)
    manifest = export.manifest or {}
    context = {
        "export": export,
        "tables": [TABLE_TITLES.get(name, name) for name in export.datasets],
        "formats": [FORMAT_LABELS.get(name, name) for name in export.formats],
        "profile": PROFILES.get(export.profile),
        "counts": manifest.get("deidentification", {}),
        "files": manifest.get("files", []),
        "can_decide": reach == "all" and export.status == export.Status.REQUESTED,
        "can_download": selectors.can_request_exports(user=request.user)
        and export.status == export.Status.READY
        and not export.link_expired,
        "form": DecisionForm(),
    }
    return render(request, "exports/request_detail.html", context)


@login_required
@require_POST
def request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """A coordinator approves, or refuses with a reason."""
    if selectors.export_reach(user=request.user) != "all":
        raise PermissionDenied(services.ONLY_COORDINATORS)
    export = selectors.request_get_for_user(user=request.user, pk=pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or refuse.")
        return redirect(export.get_absolute_url())
    try:
        if form.cleaned_data["decision"] == "approve":
            services.export_request_approve(request=export, user=request.user, reason=form.cleaned_data["reason"])
            messages.info(request, f"Export {export.export_id} approved; a worker builds it now.")
        else:
            services.export_request_refuse(request=export, user=request.user, reason=form.cleaned_data["reason"])
            messages.info(request, f"Export {export.export_id} refused.")
    except ApplicationError as error:
        messages.error(request, "; ".join(m for ms in error.field_errors.values() for m in ms) or error.message)
    return redirect("exports:queue" if request.POST.get("next") == "queue" else export.get_absolute_url())


@login_required
@require_GET
def request_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The bundle, for the project's investigators; logged. 410 once the link expired."""
    if not selectors.can_request_exports(user=request.user):
        raise PermissionDenied(services.ONLY_INVESTIGATORS)
    export = selectors.request_get_for_user(user=request.user, pk=pk)
    try:
        path = services.export_download(request=export, user=request.user, channel="web")
    except ApplicationError as error:
        if error.status == 403:
            raise PermissionDenied(error.message) from error
        return render(
            request,
            "exports/unavailable.html",
            {"export": export, "message": error.message, "status": error.status},
            status=error.status,
        )
    return zip_response(path, export)
