"""An upload at the size limit is counted as a stream: the request stays fast and its memory bounded."""

from __future__ import annotations

import io
import time
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.urls import reverse

from apps.imports import services
from apps.imports.models import ImportJob
from registry.csv_import import count_rows_up_to

from .data import csv_bytes, row, three_rows


def _file_of_size(size: int) -> bytes:
    """A valid import file padded with rows of distinct patients up to exactly ``size`` bytes."""
    head = csv_bytes([row(local_identifier="MRN-0")])
    line = head.split(b"\n", 1)[1]
    body = head + line * ((size - len(head)) // len(line))
    return body + b"\n" * (size - len(body))


@pytest.mark.parametrize(
    ("text", "cap", "expected"),
    [
        (b"local_identifier\nA\nB\nC\n", 10, 3),
        (b"local_identifier\nA\n\n,\nB\n", 10, 2),  # empty rows do not count
        (b'local_identifier,histology\nA,"two\nlines"\nB,x\n', 10, 2),  # a quoted line break is one row
        (b"local_identifier\n" + b"A\n" * 1000, 25, 26),  # stops one past the cap
        (b"\xef\xbb\xbflocal_identifier;sex\nA;male\n", 10, 1),  # BOM and semicolons
        (b"", 10, 0),
    ],
)
def test_rows_are_counted_as_a_stream_up_to_one_past_the_cap(text, cap, expected):
    stream = io.BytesIO(text)
    assert count_rows_up_to(stream, cap=cap) == expected
    assert not stream.closed


def test_counting_reads_only_the_start_of_a_large_file():
    stream = io.BytesIO(b"local_identifier\n" + b"MRN\n" * 1_000_000)
    assert count_rows_up_to(stream, cap=25) == 26
    assert stream.tell() < 64 * 1024  # one buffered read, not four megabytes


def test_a_file_at_the_size_limit_goes_to_the_worker_unread_with_bounded_memory(
    site_a, data_entry_a, settings, monkeypatch, tmp_path
):
    limit = services.DEFAULT_MAX_FILE_BYTES
    monkeypatch.setattr(services, "_enqueue", lambda job_id: None)
    upload = TemporaryUploadedFile("big.csv", "text/csv", limit, "utf-8")
    upload.write(_file_of_size(limit))
    upload.seek(0)
    assert upload.size == limit

    tracemalloc.start()
    try:
        job = services.import_job_create(user=data_entry_a, site=site_a, upload=upload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        upload.close()  # its temporary file was moved into storage; closing tolerates that

    assert peak < 2 * 1024 * 1024  # a 20 MB file, under 2 MB of Python memory (was ~940 MB for 4 MB)
    assert (job.status, job.total_rows) == (ImportJob.Status.PENDING, 0)  # the worker counts it
    assert job.file.size == limit


def test_the_upload_request_of_a_file_at_the_size_limit_answers_within_two_seconds(
    client, site_a, data_entry_a, password, monkeypatch
):
    monkeypatch.setattr(services, "_enqueue", lambda job_id: None)
    client.force_login(data_entry_a)
    upload = SimpleUploadedFile("big.csv", _file_of_size(services.DEFAULT_MAX_FILE_BYTES))
    started = time.perf_counter()
    response = client.post(reverse("imports:upload"), {"site": site_a.pk, "file": upload})
    elapsed = time.perf_counter() - started
    assert response.status_code == 302
    assert elapsed < 2.0


def test_a_small_file_is_still_imported_at_once(site_a, data_entry_a):
    upload = SimpleUploadedFile("episodes.csv", csv_bytes(three_rows()))
    job = services.import_job_create(user=data_entry_a, site=site_a, upload=upload)
    assert (job.status, job.total_rows) == (ImportJob.Status.SUCCEEDED, 3)
