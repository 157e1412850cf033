"""Export requests: ask, approve or refuse, build (on a Celery worker, or inline), download, expire.

``export_request_create`` stores an investigator's request; when the registry requires approval
(``EXPORTS_REQUIRE_APPROVAL``, on by default) it waits for a coordinator, who approves
(``export_request_approve``: the data cut is fixed then, and the build enqueued on commit) or refuses
with a reason. ``export_request_build`` is what the task runs: it claims the request (one live worker
at a time, ``apps.core.jobs``), reads the tables set-wise (``selectors.export_tables``), de-identifies
them under the profile (``registry.deid``), writes every format, the codebook, README and manifest
into one zip under ``EXPORTS_DIR`` (written to a temporary name and renamed, so a crash leaves no half
file under the real name) and marks the request ready with the file's SHA-256 and expiry. It is
idempotent: a ready request is left alone, one a live worker builds too, and one whose worker died is
built again from the start. The same request on an unchanged data cut gives byte-identical files: the
manifest holds no build time, the zip's entries carry the data cut as their time.

The pseudonym key is bytes from ``REGISTRY_EXPORT_KEY`` (hex) or, in the embedded set-up, generated
once into ``EXPORTS_KEY_FILE`` (mode 0600); it is never written to the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Site
from apps.accounts.selectors import access_for_user
from apps.core.audit import audit_write
from apps.core.errors import ApplicationError
from apps.core.jobs import claimant_is_gone, job_claim, job_lease
from apps.core.models import AuditAction, AuditChannel
from registry import vocabularies as v
from registry.decision import available_versions
from registry.deid import (
    ANALYSIS,
    FORMATS,
    LIMITED_DATASET,
    MIN_KEY_BYTES,
    PROFILES,
    DeidError,
    bundle_files,
    deidentify,
    export_files,
    get_profile,
    zip_bundle,
)

from .models import ExportDownload, ExportProject, ExportRequest
from .selectors import DATASETS, Filters, export_field_meta, export_tables, investigator_list, site_countries

log = logging.getLogger(__name__)
Status = ExportRequest.Status

SOFT_TIME_LIMIT = 55 * 60
TIME_LIMIT = 60 * 60
PENDING_GRACE_SECONDS = 120
MAX_ATTEMPTS = 3
JOB_KIND = "export"

ONLY_INVESTIGATORS = "Only investigators who are members of the project request and download its exports."
ONLY_COORDINATORS = "Only coordinators approve or refuse export requests."
UNEXPECTED_ERROR = (
    "The export stopped on an unexpected error; no file was kept. The error was logged for the registry team."
)
TOO_LONG = "The export took longer than its time limit and was stopped; no file was kept."
EXPIRED = "This download link has expired; request the export again."


# --- the pseudonym key ------------------------------------------------------------------------------------


def export_key() -> bytes:
    """The HMAC key of pseudonyms and date offsets: from the environment, else generated once into var/."""
    configured = getattr(settings, "REGISTRY_EXPORT_KEY", "")
    if configured:
        try:
            key = bytes.fromhex(configured)
        except ValueError:
            raise ImproperlyConfiguredKey("REGISTRY_EXPORT_KEY must be hexadecimal") from None
        if len(key) < MIN_KEY_BYTES:
            raise ImproperlyConfiguredKey(f"REGISTRY_EXPORT_KEY must be at least {MIN_KEY_BYTES} bytes")
        return key
    path = Path(settings.EXPORTS_KEY_FILE)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two processes generating at once keep the first key
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    key = bytes.fromhex(path.read_text().strip())
    if len(key) < MIN_KEY_BYTES:
        raise ImproperlyConfiguredKey(f"{path} holds a key shorter than {MIN_KEY_BYTES} bytes")
    return key


class ImproperlyConfiguredKey(RuntimeError):
    """The pseudonym key is missing or malformed: no export is built without one."""


def exports_dir() -> Path:
    return Path(settings.EXPORTS_DIR)


# --- projects and their members (coordinators) ------------------------------------------------------------

ONLY_COORDINATORS_PROJECTS = "Only coordinators create export projects and change their members."
MIN_K = 2


def _coordinator(user) -> None:
    if not access_for_user(user).is_coordinator:
        raise ApplicationError(ONLY_COORDINATORS_PROJECTS, status=403)


def _member_names(project: ExportProject) -> list[str]:
    return sorted(project.members.values_list("username", flat=True))


def export_project_create(
    *,
    user,
    title: str,
    approval_reference: str,
    allows_limited_dataset: bool = False,
    description: str = "",
    k: int = 5,
    channel: str = AuditChannel.WEB,
) -> ExportProject:
    """A coordinator's new project (no members yet); audited with its settings."""
    _coordinator(user)
    title, approval_reference = (title or "").strip(), (approval_reference or "").strip()
    errors: dict[str, list[str]] = {}
    if not title:
        errors["title"] = ["Give the project a title."]
    if not approval_reference:
        errors["approval_reference"] = ["Enter the ethics or data-access approval the project works under."]
    elif ExportProject.objects.filter(approval_reference__iexact=approval_reference, title__iexact=title).exists():
        errors["title"] = ["A project with this title and approval reference exists already."]
    if k is None or int(k) < MIN_K:
        errors["k"] = [f"k must be at least {MIN_K}."]
    if errors:
        raise ApplicationError("The project has errors.", field_errors=errors)
    with transaction.atomic():
        project = ExportProject.objects.create(
            title=title,
            approval_reference=approval_reference,
            allows_limited_dataset=bool(allows_limited_dataset),
            description=(description or "").strip(),
            k=int(k),
        )
        audit_write(
            instance=project,
            action=AuditAction.CREATE,
            user=user,
            channel=channel,
            changes={
                "title": [None, project.title],
                "approval_reference": [None, project.approval_reference],
                "allows_limited_dataset": [None, project.allows_limited_dataset],
                "k": [None, project.k],
            },
            reason="Export project created.",
        )
    return project


def export_project_member_add(
    *, user, project: ExportProject, member, channel: str = AuditChannel.WEB
) -> ExportProject:
    """Add an investigator to the project; audited (members before and after)."""
    _coordinator(user)
    with transaction.atomic():
        locked = ExportProject.objects.select_for_update().get(pk=project.pk)
        if member is None or not investigator_list().filter(pk=member.pk).exists():
            raise ApplicationError(
                "Only investigators can be project members.",
                field_errors={"member": ["Choose a user with the investigator role."]},
            )
        before = _member_names(locked)
        if member.get_username() in before:
            raise ApplicationError(
                "Already a member.", field_errors={"member": [f"{member.get_username()} is already a member."]}
            )
        locked.members.add(member)
        audit_write(
            instance=locked,
            action=AuditAction.UPDATE,
            user=user,
            channel=channel,
            changes={"members": [before, _member_names(locked)]},
            reason=f"Member {member.get_username()} added.",
        )
    return locked


def export_project_member_remove(
    *, user, project: ExportProject, member, channel: str = AuditChannel.WEB
) -> ExportProject:
    """Remove a member (their past requests stay, they can no longer request or download); audited."""
    _coordinator(user)
    with transaction.atomic():
        locked = ExportProject.objects.select_for_update().get(pk=project.pk)
        before = _member_names(locked)
        if member is None or member.get_username() not in before:
            raise ApplicationError(
                "Not a member.", field_errors={"member": ["This user is not a member of the project."]}
            )
        locked.members.remove(member)
        audit_write(
            instance=locked,
            action=AuditAction.UPDATE,
            user=user,
            channel=channel,
            changes={"members": [before, _member_names(locked)]},
            reason=f"Member {member.get_username()} removed.",
        )
    return locked


# --- asking, approving, refusing --------------------------------------------------------------------------


def _checked(
    *, project: ExportProject, datasets: Sequence[str], formats: Sequence[str], profile: str, filters: dict[str, Any]
) -> tuple[list[str], list[str], dict[str, Any]]:
    errors: dict[str, list[str]] = {}
    chosen = [name for name in DATASETS if name in set(datasets)]
    if not chosen or len(chosen) != len(set(datasets)):
        errors["datasets"] = [f"Choose one or more of {', '.join(DATASETS)}."]
    chosen_formats = [name for name in FORMATS if name in set(formats)]
    if not chosen_formats or len(chosen_formats) != len(set(formats)):
        errors["formats"] = [f"Choose one or more of {', '.join(FORMATS)}."]
    if profile not in PROFILES:
        errors["profile"] = [f"Choose one of {', '.join(PROFILES)}."]
    elif profile == LIMITED_DATASET.name and not project.allows_limited_dataset:
        errors["profile"] = ["This project's approval does not allow a limited data set (dates); use safe_harbor."]
    clean: dict[str, Any] = {}
    tumour_types = sorted(set(filters.get("tumour_types") or ()))
    unknown = [code for code in tumour_types if code not in {term.code for term in v.TUMOUR_TYPES}]
    if unknown:
        errors["tumour_types"] = ["Unknown tumour type(s)."]
    sites = sorted(set(filters.get("sites") or ()))
    if sites and Site.objects.filter(code__in=sites).count() != len(sites):
        errors["sites"] = ["Unknown site(s)."]
    days = {}
    for key in ("enrolled_from", "enrolled_to"):
        value = filters.get(key)
        if value in (None, ""):
            continue
        try:
            days[key] = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        except ValueError:
            errors[key] = ["Enter a date as YYYY-MM-DD."]
    if len(days) == 2 and days["enrolled_from"] > days["enrolled_to"]:
        errors["enrolled_to"] = ["The end of the enrollment period is before its start."]
    version = filters.get("model_version") or ""
    if version and version not in available_versions():
        errors["model_version"] = [f"Choose one of {', '.join(available_versions())}."]
    if errors:
        raise ApplicationError("The export request has errors.", field_errors=errors)
    if tumour_types:
        clean["tumour_types"] = tumour_types
    if sites:
        clean["sites"] = sites
    clean |= {key: day.isoformat() for key, day in days.items()}
    if version:
        clean["model_version"] = version
    return chosen, chosen_formats, clean


def export_request_create(
    *,
    user,
    project: ExportProject,
    datasets: Sequence[str],
    formats: Sequence[str],
    profile: str = "safe_harbor",
    filters: dict[str, Any] | None = None,
    purpose: str = "",
) -> ExportRequest:
    """An investigator's request; approved at once (and enqueued) when the registry requires no approval."""
    if not access_for_user(user).is_investigator or not project.members.filter(pk=user.pk).exists():
        raise ApplicationError(ONLY_INVESTIGATORS, status=403)
    chosen, chosen_formats, clean = _checked(
        project=project, datasets=datasets, formats=formats, profile=profile, filters=filters or {}
    )
    with transaction.atomic():
        request = ExportRequest.objects.create(
            project=project,
            requested_by=user,
            datasets=chosen,
            formats=chosen_formats,
            profile=profile,
            k=project.k,
            filters=clean,
            purpose=purpose.strip(),
        )
        if not settings.EXPORTS_REQUIRE_APPROVAL:
            _approve(request, user=None, reason="Approval not required by this registry.")
    return request


def _approve(request: ExportRequest, *, user, reason: str, channel: str = AuditChannel.WEB) -> None:
    now = timezone.now()
    ExportRequest.objects.filter(pk=request.pk).update(
        status=Status.APPROVED,
        decided_by=user,
        decided_at=now,
        reason=reason,
        data_cut=now,
        message="Waiting for a worker.",
    )
    request.refresh_from_db()
    audit_write(
        instance=request,
        action=AuditAction.UPDATE,
        user=user,
        channel=channel if user is not None else AuditChannel.SYSTEM,
        changes={"status": [Status.REQUESTED, Status.APPROVED], "data_cut": [None, now.isoformat()]},
        reason=reason or ("Approved by a coordinator." if user is not None else ""),
    )
    transaction.on_commit(partial(_enqueue, request.pk), robust=True)


def _decidable(request_id: int, user) -> ExportRequest:
    if not access_for_user(user).is_coordinator:
        raise ApplicationError(ONLY_COORDINATORS, status=403)
    request = ExportRequest.objects.select_for_update().get(pk=request_id)
    if request.status != Status.REQUESTED:
        raise ApplicationError(f"This request is {request.get_status_display().lower()}, not waiting.", status=409)
    return request


def export_request_approve(
    *, request: ExportRequest, user, reason: str = "", channel: str = AuditChannel.WEB
) -> ExportRequest:
    """A coordinator's approval: the data cut is now, a worker builds it; audited."""
    with transaction.atomic():
        locked = _decidable(request.pk, user)
        _approve(locked, user=user, reason=reason.strip(), channel=channel)
    return locked


def export_request_refuse(
    *, request: ExportRequest, user, reason: str, channel: str = AuditChannel.WEB
) -> ExportRequest:
    """A coordinator's refusal, with the reason the investigator reads; audited."""
    if not (reason or "").strip():
        raise ApplicationError("Say why the request is refused.", field_errors={"reason": ["A reason is required."]})
    with transaction.atomic():
        locked = _decidable(request.pk, user)
        ExportRequest.objects.filter(pk=locked.pk).update(
            status=Status.REFUSED, decided_by=user, decided_at=timezone.now(), reason=reason.strip(), message=""
        )
        locked.refresh_from_db()
        audit_write(
            instance=locked,
            action=AuditAction.UPDATE,
            user=user,
            channel=channel,
            changes={"status": [Status.REQUESTED, Status.REFUSED]},
            reason=reason.strip(),
        )
    return locked


def _enqueue(request_id: int) -> None:
    from .tasks import build_export  # the task module imports this one

    build_export.delay(request_id)


# --- building ---------------------------------------------------------------------------------------------


def export_bundle(
    *,
    export_id: str,
    project: dict[str, Any],
    project_scope: str,
    requester: str,
    approver: str | None,
    datasets: Sequence[str],
    formats: Sequence[str],
    profile_name: str,
    k: int,
    filters: dict[str, Any],
    data_cut: dt.datetime,
    requested_at: dt.datetime | None = None,
    approved_at: dt.datetime | None = None,
    progress=None,
) -> tuple[bytes, dict[str, Any]]:
    """The zip bundle of one export and its manifest (for the task and ``manage.py build_export``)."""
    report = progress or (lambda percent, what: None)
    profile = get_profile(profile_name, k=k)
    meta = export_field_meta()
    tables = export_tables(
        datasets=datasets,
        filters=Filters.from_json(filters),
        data_cut=data_cut,
        profile=profile,
        field_meta=meta,
        progress=lambda percent, what: report(percent * 60 // 100, what),
    )
    report(60, f"De-identifying {len(tables[ANALYSIS]):,} episode(s)")
    result = deidentify(
        tables,
        profile=profile,
        key=export_key(),
        project_id=project_scope,
        field_meta={name: meta[name] for name in tables},
        site_countries=site_countries(),
        release=[name for name in DATASETS if name in set(datasets)],
    )
    report(75, "Writing the files")
    data = export_files(result.tables, result.fields, formats=formats, timestamp=data_cut)
    locked = tables[ANALYSIS].get("assessment_model_version")
    versions = sorted({str(value) for value in locked.dropna()}) if locked is not None else []
    files = bundle_files(
        data,
        export_id=export_id,
        project=project,
        requester=requester,
        approver=approver,
        data_cut=data_cut,
        filters=filters,
        model_versions=versions,
        formats=formats,
        result=result,
        requested_at=requested_at,
        approved_at=approved_at,
    )
    report(95, "Packing the bundle")
    manifest = json.loads(files["manifest.json"])
    return zip_bundle(files, timestamp=data_cut), manifest


def export_request_build(*, request_id: int) -> ExportRequest | None:
    """Build an approved request to the end (idempotent); ready, refused or live-built requests are left alone."""
    with job_lease(JOB_KIND, request_id) as leased:
        request = _claim(request_id) if leased else None
        if request is not None:
            _build_claimed(request)
    return ExportRequest.objects.filter(pk=request_id).first()


def _advance(request: ExportRequest, **fields: Any) -> None:
    updated = ExportRequest.objects.filter(pk=request.pk, status__in=ExportRequest.BUILDABLE).update(**fields)
    if not updated:
        raise PermissionError(f"export request {request.pk} is not being built")
    for name, value in fields.items():
        setattr(request, name, value)


def _claim(request_id: int) -> ExportRequest | None:
    """Mark the request's build as this worker's if it is approved or its previous worker is gone; else None."""

    def give_up(request: ExportRequest) -> None:
        _advance(
            request,
            status=Status.FAILED,
            finished_at=timezone.now(),
            message=f"The export's worker stopped {request.attempts} times before it could finish.",
        )

    def start(request: ExportRequest, worker: str) -> None:
        _advance(
            request,
            status=Status.BUILDING,
            started_at=timezone.now(),
            progress=0,
            attempts=request.attempts + 1,
            claimed_by=worker,
            message="Started.",
        )

    return job_claim(
        ExportRequest.objects.all(),
        request_id,
        kind=JOB_KIND,
        noun="export",
        waiting=Status.APPROVED,
        running=(Status.BUILDING,),
        max_attempts=MAX_ATTEMPTS,
        give_up=give_up,
        start=start,
    )


def _build_claimed(request: ExportRequest) -> None:
    try:
        _build(request)
    except SoftTimeLimitExceeded:
        log.error("export %s stopped by its time limit", request.pk)
        _advance(request, status=Status.FAILED, finished_at=timezone.now(), message=TOO_LONG)
    except DeidError as error:  # its messages name tables and columns, never a value
        log.warning("export %s could not be de-identified: %s", request.pk, error)
        _advance(
            request,
            status=Status.FAILED,
            finished_at=timezone.now(),
            message=f"The data could not be released under the profile: {error}. No file was kept.",
        )
    except Exception:
        log.exception("export %s stopped by an unexpected error", request.pk)
        _advance(request, status=Status.FAILED, finished_at=timezone.now(), message=UNEXPECTED_ERROR)


def _build(request: ExportRequest) -> None:
    began = time.perf_counter()
    project = request.project

    def progress(percent: int, what: str) -> None:
        _advance(request, progress=max(0, min(99, int(percent))), message=f"{what}…")

    bundle, manifest = export_bundle(
        export_id=request.export_id,
        project={"id": project.pk, "title": project.title, "approval_reference": project.approval_reference},
        project_scope=project.pseudonym_scope,
        requester=request.requested_by.get_username(),
        approver=request.decided_by.get_username() if request.decided_by_id else None,
        datasets=request.datasets,
        formats=request.formats,
        profile_name=request.profile,
        k=request.k,
        filters=request.filters,
        data_cut=request.data_cut,
        requested_at=request.created_at,
        approved_at=request.decided_at,
        progress=progress,
    )
    relative = Path(str(request.pk)) / f"{request.export_id.lower()}.zip"
    target = exports_dir() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(f".part-{os.getpid()}")
    temporary.write_bytes(bundle)
    os.replace(temporary, target)  # atomic: the real name holds a whole bundle or nothing
    rows = manifest["deidentification"]["rows"]
    summary = ", ".join(f"{name} {count:,}" for name, count in sorted(rows.items()))
    _advance(
        request,
        status=Status.READY,
        progress=100,
        finished_at=timezone.now(),
        file_path=str(relative),
        file_size=len(bundle),
        sha256=hashlib.sha256(bundle).hexdigest(),
        manifest=manifest,
        expires_at=timezone.now() + timedelta(days=settings.EXPORTS_LINK_DAYS),
        message=f"Ready: {summary} row(s) in {time.perf_counter() - began:.1f} s.",
    )


# --- downloading ------------------------------------------------------------------------------------------


def export_download(*, request: ExportRequest, user, channel: str) -> Path:
    """The bundle's path for a member investigator, logged; 403 for anyone else, 410 once expired."""
    if not access_for_user(user).is_investigator or not request.project.members.filter(pk=user.pk).exists():
        raise ApplicationError(ONLY_INVESTIGATORS, status=403)
    if request.link_expired:
        raise ApplicationError(EXPIRED, status=410)
    if request.status != Status.READY:
        raise ApplicationError(f"This export is {request.get_status_display().lower()}, not ready.", status=409)
    path = exports_dir() / request.file_path
    if not path.is_file():
        raise ApplicationError("The bundle's file is missing; request the export again.", status=410)
    with transaction.atomic():
        download = ExportDownload.objects.create(request=request, user=user, sha256=request.sha256, channel=channel)
        audit_write(
            instance=download,
            action=AuditAction.CREATE,
            user=user,
            channel=channel,
            changes={"export": [None, request.export_id], "sha256": [None, request.sha256]},
            reason="Bundle downloaded.",
        )
    return path


# --- housekeeping -----------------------------------------------------------------------------------------


def exports_recover() -> list[int]:
    """Enqueue again the builds whose worker died, or that waited too long for a worker."""
    waited_since = timezone.now() - timedelta(seconds=PENDING_GRACE_SECONDS)
    candidates = ExportRequest.objects.filter(
        Q(status=Status.APPROVED, decided_at__lt=waited_since) | Q(status=Status.BUILDING)
    ).values_list("pk", "status", "claimed_by")
    recovered = [
        pk
        for pk, status, claimed_by in candidates
        if status == Status.APPROVED or claimant_is_gone(JOB_KIND, pk, claimed_by)
    ]
    for pk in recovered:
        _enqueue(pk)
    return recovered


def exports_expire(*, now: dt.datetime | None = None) -> list[int]:
    """Mark ready bundles past their expiry as expired and delete their files."""
    moment = now or timezone.now()
    expired = list(
        ExportRequest.objects.filter(status=Status.READY, expires_at__lte=moment).values_list("pk", "file_path")
    )
    for pk, file_path in expired:
        if file_path:
            (exports_dir() / file_path).unlink(missing_ok=True)
        ExportRequest.objects.filter(pk=pk, status=Status.READY).update(
            status=Status.EXPIRED, message="The download link expired; the file was deleted."
        )
    return [pk for pk, _ in expired]
