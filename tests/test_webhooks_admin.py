"""The webhooks admin for each role: Finance adds endpoints (the secret shown once, then
only its last 4 characters), rotates secrets, re-enables and replays; account managers
read; other staff see nothing."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from tests.webhook_helpers import endpoint
from webhooks.events import event_record
from webhooks.models import Delivery, Endpoint, Event

pytestmark = pytest.mark.django_db
ENDPOINTS = "/admin/webhooks/endpoint/"
URL = "http://127.0.0.1:9/hooks"


def staff(group=None, name="user"):
    user = User.objects.create_user(name, password="x-123456-y", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def add(client, **data):
    form = {"url": URL, "description": "ERP", "event_types": ["invoice.issued"], "active": "on"}
    return client.post(f"{ENDPOINTS}add/", {**form, **data})


def test_finance_sees_the_secret_once_then_only_its_last_4(client):
    client.force_login(staff("Finance"))
    response = add(client)
    hook = Endpoint.objects.get()
    # POST-redirect-GET: the secret is on the page the POST redirects to, not in its body.
    assert response.status_code == 302
    assert response["Location"] == f"{ENDPOINTS}{hook.pk}/secret/"
    assert hook.secret not in response.content.decode()
    page = client.get(response["Location"]).content.decode()
    assert hook.secret.startswith("whsec_") and len(hook.secret) == 6 + 43
    assert hook.secret in page and "Copy the secret now: it will not be shown again." in page
    # A reload shows no secret and creates nothing.
    reload = client.get(response["Location"], follow=True)
    assert reload.redirect_chain == [(f"{ENDPOINTS}{hook.pk}/change/", 302)]
    assert hook.secret not in reload.content.decode()
    assert "The secret was shown once" in reload.content.decode()
    assert Endpoint.objects.count() == 1
    assert hook.event_types == ["invoice.issued"]
    later = client.get(f"{ENDPOINTS}{hook.pk}/change/").content.decode()
    assert hook.secret not in later and f"whsec_…{hook.secret[-4:]}" in later
    listing = client.get(ENDPOINTS).content.decode()
    assert hook.secret not in listing and "active" in listing
    history = hook.history.get()
    assert not hasattr(history, "secret") and history.url == URL


def test_only_the_user_who_saved_sees_the_secret_page(client):
    finance = staff("Finance")
    client.force_login(finance)
    response = add(client)
    hook = Endpoint.objects.get()
    other = Client()
    other.force_login(staff("Finance", name="other"))
    seen = other.get(response["Location"], follow=True).content.decode()
    assert hook.secret not in seen
    viewer = Client()
    viewer.force_login(staff(name="plain"))
    assert viewer.get(response["Location"]).status_code == 403
    assert hook.secret in client.get(response["Location"]).content.decode()


def test_a_bad_url_is_a_form_error_and_stores_nothing(client, settings):
    client.force_login(staff("Finance"))
    response = add(client, url="ftp://files.example.com/")
    assert response.status_code == 200
    assert "Use an http:// or https:// URL (not “ftp”)." in response.content.decode()
    settings.DEBUG, settings.WEBHOOK_ALLOW_PRIVATE_URLS = False, False
    response = add(client, url="http://192.168.1.20/hook")
    assert "points to a private address" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_rotating_shows_the_new_secret_once_and_the_old_one_stops(client):
    client.force_login(staff("Finance"))
    hook = endpoint(URL)
    old = hook.secret
    response = client.post(ENDPOINTS, {"action": "rotate_secret", "_selected_action": [hook.pk]})
    hook.refresh_from_db()
    assert response.status_code == 302 and hook.secret not in response.content.decode()
    assert hook.secret != old and hook.secret in client.get(response["Location"]).content.decode()
    assert hook.secret_rotated_at is not None
    assert hook.secret not in client.get(response["Location"], follow=True).content.decode()
    assert old not in client.get(f"{ENDPOINTS}{hook.pk}/change/").content.decode()


def test_finance_re_enables_a_disabled_endpoint(client):
    client.force_login(staff("Finance"))
    hook = endpoint(URL, active=False, failure_run=20, disabled_at=timezone.now())
    client.post(ENDPOINTS, {"action": "reenable", "_selected_action": [hook.pk]})
    hook.refresh_from_db()
    assert (hook.active, hook.failure_run, hook.disabled_at) == (True, 0, None)


def recorded():
    hook = endpoint(URL)
    event = event_record(event_type="invoice.issued", key="invoice.issued:1", data=dict)
    return hook, event


def test_finance_replays_a_delivery_and_an_event(client):
    client.force_login(staff("Finance"))
    _, event = recorded()
    assert 'value="replay"' in client.get("/admin/webhooks/event/").content.decode()
    original = Delivery.objects.get()
    client.post(
        "/admin/webhooks/delivery/",
        {"action": "replay_deliveries", "_selected_action": [original.pk]},
    )
    replay = Delivery.objects.get(replay=True)
    assert (replay.event_id, replay.state, replay.requested_by.username) == (
        event.id,
        "pending",
        "user",
    )
    Delivery.objects.filter(pk=replay.pk).update(state="delivered")
    client.post("/admin/webhooks/event/", {"action": "replay", "_selected_action": [event.id]})
    assert Delivery.objects.filter(replay=True).count() == 2


def test_the_event_page_shows_the_payload_and_writes_nothing(client):
    client.force_login(staff("Account managers"))
    _, event = recorded()
    response = client.get(f"/admin/webhooks/event/{event.id}/change/")
    assert response.status_code == 200
    assert f"&quot;id&quot;: &quot;{event.id}&quot;" in response.content.decode()
    assert Event.objects.count() == 1 and Delivery.objects.count() == 1


def test_account_managers_read_but_neither_edit_nor_replay(client):
    client.force_login(staff("Account managers"))
    hook, event = recorded()
    assert client.get(f"/admin/webhooks/event/{event.id}/change/").status_code == 200
    assert client.get(ENDPOINTS).status_code == 200
    assert client.get(f"{ENDPOINTS}{hook.pk}/change/").status_code == 200
    assert add(client).status_code == 403
    assert client.get("/admin/webhooks/delivery/").status_code == 200
    response = client.post(
        "/admin/webhooks/delivery/",
        {"action": "replay_deliveries", "_selected_action": [Delivery.objects.get().pk]},
    )
    assert response.status_code == 200  # the changelist again: no such action for them
    client.post(ENDPOINTS, {"action": "rotate_secret", "_selected_action": [hook.pk]})
    assert Delivery.objects.count() == 1
    assert Endpoint.objects.get().secret == hook.secret
    assert 'value="replay"' not in client.get("/admin/webhooks/event/").content.decode()


@pytest.mark.parametrize("group", [None, "Viewers"])
def test_other_staff_see_nothing_of_webhooks(client, group):
    client.force_login(staff(group))
    hook, event = recorded()
    for url in (
        ENDPOINTS,
        f"{ENDPOINTS}{hook.pk}/change/",
        "/admin/webhooks/event/",
        f"/admin/webhooks/event/{event.id}/change/",
        "/admin/webhooks/delivery/",
    ):
        assert client.get(url).status_code == 403, url
    assert add(client).status_code == 403
    assert Endpoint.objects.count() == 1


def test_a_url_over_2000_characters_is_a_form_error_not_cut_by_the_browser(client):
    client.force_login(staff("Finance"))
    response = add(client, url="http://127.0.0.1:9/" + "a" * 3000)
    assert response.status_code == 200
    assert "Use a URL of at most 2000 characters (this one has 3019)." in (
        response.content.decode()
    )
    assert not Endpoint.objects.exists()
    page = client.get(f"{ENDPOINTS}add/").content.decode()
    assert 'name="url"' in page and "maxlength" not in page.split('name="url"')[1][:200]
