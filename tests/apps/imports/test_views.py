"""Bulk import pages: template and documentation, upload, job page with its report, and who reaches them."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.clinical.models import Patient
from apps.imports import services
from apps.imports.models import ImportJob
from apps.imports.tasks import run_import_job
from registry.csv_import import EXAMPLE_IDENTIFIER, HEADER, documented_columns
from registry.vocabularies import CTCAE_TERMS

from .data import csv_bytes, three_rows


def upload(rows) -> SimpleUploadedFile:
    return SimpleUploadedFile("episodes.csv", csv_bytes(rows), content_type="text/csv")


def post_upload(client, site, rows):
    return client.post(reverse("imports:upload"), {"site": site.pk, "file": upload(rows)})


def bad_job(user, site) -> ImportJob:
    rows = three_rows()
    rows[1]["episode_ecog"] = "7"
    rows[1]["date_of_birth"] = "=HYPERLINK()"  # an identifier; and a formula must not run when the report opens
    return services.import_job_create(user=user, site=site, upload=upload(rows))


def test_the_template_download_has_the_documented_header(client, site_a, data_entry_a):
    client.force_login(data_entry_a)

    response = client.get(reverse("imports:template", kwargs={"site_code": "AAA"}))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="registry-import-AAA.csv"' in response["Content-Disposition"]
    header, example = list(csv.reader(io.StringIO(response.content.decode())))
    assert tuple(header) == HEADER
    assert example[0] == EXAMPLE_IDENTIFIER


def test_the_documentation_page_documents_every_column_from_the_model_fields(client, site_a, data_entry_a):
    client.force_login(data_entry_a)

    page = client.get(reverse("imports:index")).content.decode()

    for column in documented_columns():
        assert f"<code>{column.pattern}</code>".replace("<n>", "&lt;n&gt;") in page
    assert "Best overall response (RECIST 1.1)" in page  # InitialCourse verbose name
    assert "<code>pembrolizumab</code>" in page and "<code>CCRCC</code>" in page  # code lists
    assert reverse("imports:template", kwargs={"site_code": "AAA"}) in page


def test_another_sites_template_is_not_found(client, site_a, site_b, data_entry_a):
    client.force_login(data_entry_a)

    assert client.get(reverse("imports:template", kwargs={"site_code": "BBB"})).status_code == 404


@pytest.mark.parametrize("name", ["imports:index", "imports:upload"])
def test_investigators_are_refused(client, investigator, no_second_factor, name):
    client.force_login(investigator)

    assert client.get(reverse(name)).status_code == 403


def test_anonymous_users_are_sent_to_sign_in(client, db):
    response = client.get(reverse("imports:index"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_uploading_a_valid_file_imports_it_and_shows_the_finished_job(client, site_a, data_entry_a):
    client.force_login(data_entry_a)

    response = post_upload(client, site_a, three_rows())

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("imports:job-detail", kwargs={"pk": job.pk})
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert 'http-equiv="refresh"' not in page.content.decode() and "Refresh" not in page
    assert "Imported 3 rows" in page.content.decode()
    assert Patient.objects.filter(site=site_a).count() == 2


def test_an_upload_into_another_site_is_refused_and_creates_nothing(client, site_a, site_b, data_entry_a):
    client.force_login(data_entry_a)

    response = post_upload(client, site_b, three_rows())

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ImportJob.objects.exists()
    assert not Patient.objects.exists()


def test_a_running_job_page_shows_progress_and_refreshes_itself(client, site_a, data_entry_a, monkeypatch):
    monkeypatch.setattr(run_import_job, "delay", lambda job_id: None)
    job = services.import_job_create(user=data_entry_a, site=site_a, upload=upload(three_rows()), run_inline=False)
    ImportJob.objects.filter(pk=job.pk).update(status="validating", processed_rows=2)
    client.force_login(data_entry_a)

    response = client.get(job.get_absolute_url())

    content = response.content.decode()
    assert '<meta http-equiv="refresh" content="2">' in content
    assert response["Refresh"] == "2"
    assert "2 / 3 rows" in content


def test_the_job_page_lists_every_problem_and_offers_it_as_csv(client, site_a, data_entry_a):
    job = bad_job(data_entry_a, site_a)
    client.force_login(data_entry_a)

    page = client.get(job.get_absolute_url()).content.decode()
    report = client.get(reverse("imports:job-errors", kwargs={"pk": job.pk}))

    assert "Failed – nothing imported" in page
    assert "<td>3</td><td><code>episode_ecog</code></td><td>7</td>" in page
    rows = list(csv.DictReader(io.StringIO(report.content.decode())))
    assert rows[0] == {
        "row": "3",
        "column": "date_of_birth",
        "value": "'=HYPERLINK()",
        "message": "Not a date: use YYYY-MM-DD.",
    }
    assert {"row": "3", "column": "episode_ecog", "value": "7", "message": rows[-1]["message"]} in rows
    assert "ECOG" in rows[-1]["message"]


def test_another_sites_job_is_not_found(client, site_a, site_b, data_entry_a, data_entry_b):
    job = bad_job(data_entry_a, site_a)
    client.force_login(data_entry_b)

    assert client.get(job.get_absolute_url()).status_code == 404
    assert client.get(reverse("imports:job-errors", kwargs={"pk": job.pk})).status_code == 404
    assert "Recent imports" not in client.get(reverse("imports:index")).content.decode()


def test_coordinators_see_every_sites_job_without_local_identifiers(
    client, site_a, data_entry_a, coordinator, no_second_factor
):
    job = bad_job(data_entry_a, site_a)
    client.force_login(coordinator)

    page = client.get(job.get_absolute_url())
    report = client.get(reverse("imports:job-errors", kwargs={"pk": job.pk})).content.decode()

    assert page.status_code == 200
    assert "HYPERLINK" not in page.content.decode() and "HYPERLINK" not in report
    assert "(hidden)" in report


# --- the original filename is shown like an identifier -----------------------------------------------------

PATIENT_NAMED_FILE = "smith_john_MRN123.csv"


def named_job(user, site) -> ImportJob:
    rows = three_rows()
    rows[1]["episode_ecog"] = "7"  # a failed job, so it has an error report
    file = SimpleUploadedFile(PATIENT_NAMED_FILE, csv_bytes(rows), content_type="text/csv")
    return services.import_job_create(user=user, site=site, upload=file)


def test_coordinators_see_the_upload_named_by_number_on_every_page_and_report(
    client, site_a, data_entry_a, coordinator, no_second_factor
):
    job = named_job(data_entry_a, site_a)
    client.force_login(coordinator)
    pages = {
        "job page": client.get(job.get_absolute_url()),
        "list": client.get(reverse("imports:index")),
        "errors CSV": client.get(reverse("imports:job-errors", kwargs={"pk": job.pk})),
    }
    for where, response in pages.items():
        assert response.status_code == 200, where
        assert "smith" not in response.content.decode().lower(), where
        assert "smith" not in response.get("Content-Disposition", "").lower(), where
    assert f"upload #{job.pk} (.csv)" in pages["job page"].content.decode()
    assert f"upload #{job.pk} (.csv)" in pages["list"].content.decode()


def test_the_uploading_sites_staff_see_the_original_filename(client, site_a, data_entry_a, site_pi_a):
    job = named_job(data_entry_a, site_a)
    client.force_login(site_pi_a)  # a colleague at the site, not the uploader
    assert PATIENT_NAMED_FILE in client.get(job.get_absolute_url()).content.decode()
    assert PATIENT_NAMED_FILE in client.get(reverse("imports:index")).content.decode()


def test_the_admin_shows_the_upload_by_number_only(admin_client, site_a, data_entry_a, settings):
    settings.REQUIRE_OTP_FOR_REGISTRY_WIDE_ROLES = False
    job = named_job(data_entry_a, site_a)
    for url in (
        reverse("admin:imports_importjob_changelist"),
        reverse("admin:imports_importjob_change", args=[job.pk]),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert "smith" not in response.content.decode().lower(), url
        assert f"upload #{job.pk} (.csv)" in response.content.decode(), url


@pytest.mark.parametrize(
    ("name", "shown"),
    [("smith.csv", " (.csv)"), ("SMITH.TSV", " (.tsv)"), ("smith.john_MRN123", ""), ("smith", "")],
)
def test_a_masked_filename_keeps_only_a_known_extension(name, shown):
    assert ImportJob(pk=12, original_filename=name).masked_filename == f"upload #12{shown}"


def test_the_data_dictionary_gives_meaning_allowed_values_and_when_required_in_a_persons_words(
    client, site_a, data_entry_a
):
    client.force_login(data_entry_a)

    page = client.get(reverse("imports:index")).content.decode()

    def row_of(column: str) -> str:
        return page[page.index(f'id="col-{column}"') :].split("</tr>")[0]

    assert "<h2>Data dictionary</h2>" in page
    recurrence = row_of("rirae&lt;n&gt;_recurrence")
    assert "Recurrence of a prior irAE?" in recurrence
    assert "<code>recurrence</code> – Recurrence of a prior irAE (same term)" in recurrence
    assert "<code>new</code> – New irAE" in recurrence
    assert "Required when any rirae&lt;n&gt;_… column is filled" in recurrence
    assert "Optional (empty: RECIST 1.1)" in row_of("response&lt;n&gt;_criteria")  # a default by its label
    reason = row_of("reason_for_change")
    assert "Reason for change" in reason and "marked complete" in reason and "Optional" in reason
    term = row_of("irae&lt;n&gt;_term")  # a long code list is linked to, not repeated in the row
    assert f'see <a href="#codes-ctcae-irae-term">CTCAE irAE term</a> ({len(CTCAE_TERMS)} codes)' in term
    assert "IrAEs" not in page  # "irAEs" keeps its small i
    for internal in ("ctcae_term", "recurrence_status", "Generated, site-prefixed", "Stored in upper case"):
        assert internal not in page, internal


# --- preview (dry run), "Import this file", created patients -------------------------------------------------


def test_a_previewed_upload_shows_what_will_change_and_imports_with_one_click(client, site_a, data_entry_a):
    services.import_job_create(user=data_entry_a, site=site_a, upload=upload(three_rows()))
    registry_id = Patient.objects.get(local_identifier="MRN-2").registry_id
    rows = three_rows()
    rows[2]["sex"] = "female"
    rows.append({**rows[0], "local_identifier": "MRN-9"})
    client.force_login(data_entry_a)

    response = client.post(reverse("imports:upload"), {"site": site_a.pk, "file": upload(rows), "dry_run": "on"})

    job = ImportJob.objects.latest("pk")
    page = client.get(response["Location"]).content.decode()
    assert job.dry_run and Patient.objects.count() == 2
    assert "Checked – preview, nothing imported yet" in page
    assert (
        f"<td>4</td><td>{registry_id}</td>\n            <td>Patient</td><td>Changed</td><td><code>sex</code></td>"
        "<td>male</td><td>female</td>"
    ) in page
    assert "<td>5</td><td>New patient</td>" in page
    assert 'action="{}"'.format(reverse("imports:job-confirm", kwargs={"pk": job.pk})) in page

    done = client.post(reverse("imports:job-confirm", kwargs={"pk": job.pk}))

    assert done["Location"] == job.get_absolute_url()
    new = Patient.objects.get(local_identifier="MRN-9")
    assert Patient.objects.get(local_identifier="MRN-2").sex == "female"
    result = client.get(job.get_absolute_url()).content.decode()
    assert f'<a href="{new.get_absolute_url()}">{new.registry_id}</a>' in result
    assert "Import this file" not in result


def test_only_the_uploader_imports_a_preview_and_only_by_post(client, site_a, data_entry_a, site_pi_a):
    job = services.import_job_create(user=data_entry_a, site=site_a, upload=upload(three_rows()), dry_run=True)
    url = reverse("imports:job-confirm", kwargs={"pk": job.pk})
    client.force_login(site_pi_a)

    assert client.get(url).status_code == 405
    assert "Import this file" not in client.get(job.get_absolute_url()).content.decode()
    assert client.post(url).status_code == 403
    assert not Patient.objects.exists()


def test_a_preview_shown_to_a_coordinator_masks_identifier_values(
    client, site_a, data_entry_a, coordinator, no_second_factor
):
    services.import_job_create(user=data_entry_a, site=site_a, upload=upload(three_rows()))
    rows = three_rows()
    rows[0]["date_of_birth"] = rows[1]["date_of_birth"] = "1958-02-03"
    job = services.import_job_create(user=data_entry_a, site=site_a, upload=upload(rows), dry_run=True)
    assert job.status == "succeeded", job.errors
    client.force_login(coordinator)

    page = client.get(job.get_absolute_url()).content.decode()

    assert "1958-02-03" not in page and "MRN-1" not in page
    assert "<code>date_of_birth</code></td><td>(hidden)</td><td>(hidden)</td>" in page
