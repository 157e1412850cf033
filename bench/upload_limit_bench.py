"""Time and peak memory of an upload request at the import size limit, beside the old whole-file count.

The upload request now counts rows as a stream, only up to the inline limit, and hands a large file
to the worker unread. The baseline, in the same run, is what the request did before: read the file
into memory and parse every row to count them (``registry.csv_import.count_rows``), on a 4 MB file
(the review saw 20 s and ~940 MB there). Peak memory is Python's (tracemalloc).

    python bench/upload_limit_bench.py            # on the configured database (SQLite by default)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("REGISTRY_VAR_DIR", tempfile.mkdtemp(prefix="upload-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.core.files.uploadedfile import TemporaryUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402

from apps.accounts.models import Membership, Role, Site, User  # noqa: E402
from apps.imports import services  # noqa: E402
from registry import csv_import  # noqa: E402
from tests.apps.imports.data import csv_bytes, row  # noqa: E402


def padded_file(size: int) -> bytes:
    head = csv_bytes([row(local_identifier="MRN-0")])
    line = head.split(b"\n", 1)[1]
    body = head + line * ((size - len(head)) // len(line))
    return body + b"\n" * (size - len(body))


def measure(call) -> tuple[float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    call()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-mb", type=float, default=4.0, help="size of the old-path baseline file")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    site, _ = Site.objects.get_or_create(code="BNCH", defaults={"name": "Bench", "country": "FR"})
    user, _ = User.objects.get_or_create(username="upload-bench")
    Membership.objects.get_or_create(user=user, site=site, role=Role.DATA_ENTRY)
    services._enqueue = lambda job_id: None  # the worker is not part of the request

    limit = services.DEFAULT_MAX_FILE_BYTES
    data = padded_file(limit)
    upload = TemporaryUploadedFile("big.csv", "text/csv", limit, "utf-8")
    upload.write(data)
    upload.seek(0)
    seconds, peak = measure(lambda: services.import_job_create(user=user, site=site, upload=upload))
    upload.close()
    print(
        f"upload at the limit ({limit / 2**20:.0f} MB, streamed count): {seconds * 1000:8.1f} ms, peak {peak:7.1f} MB"
    )

    small = padded_file(int(args.baseline_mb * 2**20))
    base_seconds, base_peak = measure(lambda: csv_import.count_rows(bytes(small)))
    print(
        f"baseline: whole-file count of {args.baseline_mb:.0f} MB (old request path): "
        f"{base_seconds * 1000:8.1f} ms, peak {base_peak:7.1f} MB"
    )
    print(f"ratio (baseline / new): time ×{base_seconds / seconds:.1f}, memory ×{base_peak / peak:.1f}")


if __name__ == "__main__":
    main()
