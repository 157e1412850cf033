"""An investigator requests a de-identified export, a coordinator approves it, the investigator downloads the zip.

Both sign in with their password and a TOTP code in headless Chromium. The build runs in the live server
as the approval commits (the Celery task's service, called inline instead of through a broker).
"""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _with_totp(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="browser phone", confirmed=True)


def _sign_in(page, live_server, user, password, device) -> None:
    from django_otp.oath import TOTP

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/two-factor/" in page.url
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    page.fill("input[name=token]", f"{totp.token():0{device.digits}d}")
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()
    assert "/accounts/" not in page.url


def test_request_approve_and_download_an_export(browser, live_server, password, settings, tmp_path, monkeypatch):
    from apps.accounts.models import Role
    from apps.assessments.demo import demo_registry_seed
    from apps.exports import services
    from apps.exports.models import ExportDownload, ExportProject, ExportRequest
    from tests.factories import user_with_role

    settings.EXPORTS_DIR = tmp_path / "exports"
    settings.EXPORTS_KEY_FILE = tmp_path / "export.key"
    monkeypatch.setattr(services, "_enqueue", lambda pk: services.export_request_build(request_id=pk))
    demo_registry_seed(sites=2, patients=60, seed=6)
    investigator = user_with_role(Role.INVESTIGATOR, username="browser_investigator")
    coordinator = user_with_role(Role.COORDINATOR, username="browser_coordinator")
    project = ExportProject.objects.create(title="Browser project", approval_reference="IRB-BROWSER")
    project.members.add(investigator)

    investigating = browser.new_context(accept_downloads=True)
    page = investigating.new_page()
    page.set_default_timeout(30_000)
    _sign_in(page, live_server, investigator, password, _with_totp(investigator))
    page.goto(f"{live_server.url}/")
    page.click("#home-exports-card")
    page.click(f"a[href='/exports/projects/{project.pk}/request/']")
    page.check("input[name=formats][value=parquet]")
    page.fill("textarea[name=purpose]", "Validation of PFS2 by category")
    page.click("#export-request-form button[type=submit]")
    page.wait_for_selector("#export-status")
    assert page.inner_text("#export-status") == "Waiting for approval"
    request = ExportRequest.objects.get()

    deciding = browser.new_context()
    desk = deciding.new_page()
    desk.set_default_timeout(30_000)
    _sign_in(desk, live_server, coordinator, password, _with_totp(coordinator))
    desk.goto(f"{live_server.url}/exports/queue/")
    desk.click(f"section[data-export='{request.pk}'] button[value=approve]")
    desk.wait_for_load_state()
    deciding.close()

    request.refresh_from_db()
    assert request.status == ExportRequest.Status.READY, request.message
    page.goto(f"{live_server.url}/exports/requests/{request.pk}/")
    assert page.inner_text("#export-status") == "Ready to download"
    with page.expect_download() as info:
        page.click("#download-bundle")
    content = open(info.value.path(), "rb").read()  # noqa: SIM115 - Playwright's temporary file
    investigating.close()

    assert hashlib.sha256(content).hexdigest() == request.sha256
    names = zipfile.ZipFile(io.BytesIO(content)).namelist()
    expected = {"analysis.csv", "analysis.parquet", "iraes.csv", "codebook.csv", "README.txt", "manifest.json"}
    assert expected <= set(names)
    download = ExportDownload.objects.get()
    assert (download.user, download.request, download.channel) == (investigator, request, "web")
