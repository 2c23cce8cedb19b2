"""In Chromium at 1366 px: Finance adds a webhook endpoint, reads its secret once on the
page after saving (no sideways scroll), and afterwards sees only its last 4 characters."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission

from tests.browser_helpers import page_scrolls_sideways
from tests.test_browser_journey import ARTIFACTS, CHROMIUM, browser, login, user  # noqa: F401
from webhooks.models import Endpoint

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("migrated_groups"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


def test_finance_adds_an_endpoint_and_reads_its_secret_once(live_server, browser):  # noqa: F811
    # Transactional tests flush the groups the data migrations made: give Finance its
    # webhook permissions again.
    group, _ = Group.objects.get_or_create(name="Finance")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="webhooks"))
    user("fin", "Finance")
    base = live_server.url
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    login(page, base, "fin")

    page.goto(f"{base}/admin/webhooks/endpoint/add/")
    page.fill("#id_url", "ftp://erp.example.com/hooks")
    page.check("input[name=event_types][value='invoice.issued']")
    page.click("input[name=_save]")
    assert "Use an http:// or https:// URL" in page.inner_text(".errorlist")
    page.fill("#id_url", "http://127.0.0.1:8765/hooks/billing")
    page.fill("#id_description", "ERP")
    page.check("input[name=event_types][value='invoice.paid']")
    page.click("input[name=_save]")
    page.wait_for_selector("#webhook-secret")
    secret = Endpoint.objects.get().secret
    assert page.input_value("#webhook-secret") == secret
    assert "Copy the secret now: it will not be shown again." in page.inner_text(".messagelist")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.screenshot(path=str(ARTIFACTS / "webhook-secret-once-1366.png"), full_page=True)
    secret_page = page.url  # the save redirected here (POST-redirect-GET)
    assert secret_page.endswith(f"/admin/webhooks/endpoint/{Endpoint.objects.get().pk}/secret/")

    page.click("text=I have copied it: open the endpoint")
    page.wait_for_selector("#id_url")
    content = page.content()
    assert secret not in content and f"whsec_…{secret[-4:]}" in content
    assert Endpoint.objects.get().event_types == ["invoice.issued", "invoice.paid"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.screenshot(path=str(ARTIFACTS / "webhook-endpoint-1366.png"), full_page=True)

    page.goto(secret_page)  # reloading it: no secret any more, no second endpoint
    page.wait_for_selector("#id_url")
    assert secret not in page.content() and Endpoint.objects.count() == 1

    # A 2,000-character URL wraps on the list, the endpoint's page and the delete page.
    long = Endpoint.objects.create(
        url="http://127.0.0.1:9/" + "a" * 1981, event_types=["*"], secret="whsec_x" * 6
    )
    for where in ("", f"{long.pk}/change/", f"{long.pk}/delete/"):
        page.goto(f"{base}/admin/webhooks/endpoint/{where}")
        assert not page_scrolls_sideways(page), where
    page.screenshot(path=str(ARTIFACTS / "webhook-delete-long-url-1366.png"), full_page=True)
