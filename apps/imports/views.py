"""Bulk import pages: the data dictionary, per-site templates, upload, and the job with its preview or report.

Center staff reach their own sites' imports, coordinators every site's; investigators get 403, and
another site's template or job answers 404. The pages run outside the request transaction: an
import commits on its own, and reading a page must not queue behind a running import's transaction.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.selectors import access_for_user, registration_refusal, writable_sites_for_user
from apps.core.errors import ApplicationError
from apps.core.forms import add_application_error
from registry import csv_import as spec

from . import selectors, services
from .forms import ImportUploadForm

RECENT_JOBS = 20


def _require_import_access(request: HttpRequest) -> None:
    if not selectors.import_access_allowed(access_for_user(request.user)):
        raise PermissionDenied("Bulk import is for center staff and coordinators.")


def _csv_response(content: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@transaction.non_atomic_requests
@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The column documentation, the templates of the user's sites and their recent imports."""
    _require_import_access(request)
    docs = selectors.import_column_docs()
    sections: dict[str, list[selectors.ColumnDoc]] = {}
    for doc in docs:
        sections.setdefault(doc.section, []).append(doc)
    return render(
        request,
        "imports/index.html",
        {
            "sites": writable_sites_for_user(user=request.user),
            "jobs": [
                (job, selectors.import_job_filename_for_user(job=job, user=request.user))
                for job in selectors.import_job_list_for_user(user=request.user)[:RECENT_JOBS]
            ],
            "sections": sections,
            "code_lists": [(selectors.vocabulary_anchor(vocab), vocab) for vocab in selectors.import_code_lists()],
            "column_count": len(spec.HEADER),
            "max_prior_iraes": spec.MAX_PRIOR_IRAES,
            "max_rechallenge_iraes": spec.MAX_RECHALLENGE_IRAES,
            "example_identifier": spec.EXAMPLE_IDENTIFIER,
            "max_responses": spec.MAX_RESPONSES,
            "max_follow_ups": spec.MAX_FOLLOW_UPS,
            "inline_max_rows": services.import_inline_max_rows(),
            "upload_refusal": registration_refusal(user=request.user),
        },
    )


@transaction.non_atomic_requests
@login_required
def template_download(request: HttpRequest, site_code: str) -> HttpResponse:
    _require_import_access(request)
    site = writable_sites_for_user(user=request.user).filter(code=site_code).first()
    if site is None:
        raise Http404("No such site among yours.")
    return _csv_response(services.import_template_csv(site=site), f"registry-import-{site.code}.csv")


@transaction.non_atomic_requests
@login_required
def upload(request: HttpRequest) -> HttpResponse:
    """Upload a file for one of the user's sites; coordinators (who register no patients) get 403."""
    _require_import_access(request)
    refusal = registration_refusal(user=request.user)
    if refusal:
        raise PermissionDenied(refusal)
    form = ImportUploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.import_job_create(
                user=request.user,
                site=form.cleaned_data["site"],
                upload=form.cleaned_data["file"],
                dry_run=form.cleaned_data["dry_run"],
            )
        except ApplicationError as error:
            add_application_error(form, error)
        else:
            return redirect(job.get_absolute_url())
    return render(request, "imports/upload.html", {"form": form})


@transaction.non_atomic_requests
@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_import_access(request)
    job = selectors.import_job_get_for_user(user=request.user, pk=pk)
    job = services.import_job_expire_if_stale(job=job)
    processed = selectors.import_job_processed_rows(job=job)
    response = render(
        request,
        "imports/job_detail.html",
        {
            "job": job,
            "filename": selectors.import_job_filename_for_user(job=job, user=request.user),
            "processed_rows": processed,
            "percent": min(100, round(100 * processed / job.total_rows)) if job.total_rows else job.percent,
            "errors": selectors.import_job_errors_for_user(job=job, user=request.user),
            "counts": selectors.import_job_counts(job=job),
            "preview": selectors.import_job_preview_for_user(job=job, user=request.user),
            "preview_counts": selectors.import_job_preview_counts(job=job),
            "can_confirm": job.dry_run and job.status == job.Status.SUCCEEDED and job.uploaded_by_id == request.user.pk,
        },
    )
    if job.is_running:
        response["Refresh"] = "2"  # as the page's meta refresh: no JavaScript needed
    return response


@transaction.non_atomic_requests
@login_required
def job_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    _require_import_access(request)
    job = selectors.import_job_get_for_user(user=request.user, pk=pk)
    errors = selectors.import_job_errors_for_user(job=job, user=request.user)
    return _csv_response(services.import_errors_csv(errors=errors), f"import-{job.pk}-errors.csv")


@transaction.non_atomic_requests
@login_required
@require_POST
def job_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """Import the file of a checked preview for real ("Import this file"); a second click changes nothing."""
    _require_import_access(request)
    job = selectors.import_job_get_for_user(user=request.user, pk=pk)
    try:
        services.import_job_confirm(user=request.user, job=job)
    except ApplicationError as error:
        raise PermissionDenied(error.message) from None
    return redirect(job.get_absolute_url())
