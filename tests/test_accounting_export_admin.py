"""The accounting export's two surfaces: `manage.py export_journal` and the admin's
Journal export page (Finance only). Both give the same bytes; bad ranges are refused
with what to fix; account codes are kept in the seller profile and outcome admins."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import OutcomeDefinition, SellerProfile
from tests.journal_helpers import credit_line, journal_csv, pay, two_outcomes_invoice
from tests.receivables_helpers import staff

pytestmark = pytest.mark.django_db

JOURNAL = "/admin/billing/invoice/journal/"
FEB = {"date_from": "2026-02-01", "date_to": "2026-02-28"}


def login(client, role):
    user = staff(role)
    if user is not None:
        client.force_login(user)
    return user


def documents():
    _, invoice = two_outcomes_invoice()
    pay(invoice, "50.00", date(2026, 2, 10), "TR-881")
    credit_line(invoice, "Documents", "1.37")
    return invoice


def download(client, params) -> bytes:
    response = client.get(JOURNAL, params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    return b"".join(response.streaming_content)


def test_the_command_the_output_file_and_the_admin_give_the_same_bytes(client, tmp_path):
    documents()
    login(client, "Finance")
    response = client.get(JOURNAL, FEB)
    assert response["Content-Disposition"] == (
        'attachment; filename="journal-2026-02-01-2026-02-28.csv"'
    )
    from_admin = b"".join(response.streaming_content)
    stdout = StringIO()
    call_command("export_journal", "--from", "2026-02-01", "--to", "2026-02-28", stdout=stdout)
    path = tmp_path / "journal.csv"
    call_command("export_journal", "--from=2026-02-01", "--to=2026-02-28", f"--output={path}")
    expected = journal_csv(date(2026, 2, 1), date(2026, 2, 28)).encode()
    assert expected.count(b"\r\n") == 6  # the header, 3 invoice rows, a payment, a credit
    assert from_admin == stdout.getvalue().encode() == path.read_bytes() == expected


@pytest.mark.parametrize("role", ["Account managers", "Viewers"])
def test_other_groups_are_refused_the_journal_and_see_no_link(client, role):
    documents()
    login(client, role)
    assert client.get(JOURNAL).status_code == 403
    assert client.get(JOURNAL, FEB).status_code == 403
    invoices = client.get("/admin/billing/invoice/")
    assert invoices.status_code == 200 and 'id="journal-link"' not in invoices.content.decode()


def test_staff_without_a_group_is_refused_and_anonymous_is_sent_to_log_in(
    client, django_user_model
):
    user = django_user_model.objects.create_user("clerk", password="x-123456-y", is_staff=True)
    response = client.get(JOURNAL, FEB)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(user)
    assert client.get(JOURNAL, FEB).status_code == 403


def test_finance_finds_the_page_from_the_invoices_and_gets_the_form_first(client):
    login(client, "Finance")
    invoices = client.get("/admin/billing/invoice/").content.decode()
    assert f'href="{JOURNAL}" id="journal-link">Journal export</a>' in invoices
    page = client.get(JOURNAL)
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert 'name="date_from"' in page.content.decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"date_from": "2026-02-28", "date_to": "2026-02-01"},
            "The range starts on 2026-02-28, after its end on 2026-02-01: swap the dates.",
        ),
        (
            {"date_from": "2026-02-30", "date_to": "2026-03-01"},
            "Give the first day as a date, YYYY-MM-DD (e.g. 2026-01-01).",
        ),
        ({"date_from": "2026-02-01"}, "Give the last day of the range (it is included)."),
    ],
)
def test_a_bad_range_in_the_admin_shows_what_to_fix_and_no_csv(client, params, message):
    documents()
    login(client, "Finance")
    response = client.get(JOURNAL, params)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert message in response.content.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "2026-02-28", "--to", "2026-02-01"],
            "The range starts on 2026-02-28, after its end on 2026-02-01: swap the dates.",
        ),
        (
            ["--from", "2026-02-01", "--to", "28/02/2026"],
            "--to: “28/02/2026” is not a date: give it as YYYY-MM-DD (e.g. 2026-01-31).",
        ),
        (["--from", "2026-02-01", "--to", "9999-12-31"], "The last day must be before 9999-12-31."),
    ],
)
def test_a_bad_range_in_the_command_is_refused_with_what_to_fix(args, message, tmp_path):
    path = tmp_path / "journal.csv"
    with pytest.raises(CommandError) as refused:
        call_command("export_journal", *args, f"--output={path}")
    assert str(refused.value) == message
    assert not path.exists()


def test_an_output_the_command_cannot_write_is_refused(tmp_path):
    with pytest.raises(CommandError, match="--output: cannot write"):
        call_command(
            "export_journal", "--from=2026-02-01", "--to=2026-02-28",
            f"--output={tmp_path / 'missing' / 'journal.csv'}",
        )  # fmt: skip


def test_finance_keeps_the_account_codes_in_the_seller_profile_and_outcome_admins(client):
    invoice = documents()
    login(client, "Finance")
    profile = client.get("/admin/billing/sellerprofile/1/change/").content.decode()
    assert "Accounting export" in profile
    for field in ("outcome", "fee", "tax", "receivables", "bank"):
        assert f'name="{field}_account_code"' in profile
    tickets = OutcomeDefinition.objects.get(name="Tickets")
    url = f"/admin/billing/outcomedefinition/{tickets.pk}/change/"
    assert 'name="account_code"' in client.get(url).content.decode()
    OutcomeDefinition.objects.filter(pk=tickets.pk).update(account_code="4020")
    SellerProfile.objects.filter(pk=1).update(fee_account_code="4900")
    rows = download(client, FEB).decode().splitlines()
    assert [row.split(",")[4] for row in rows[1:4]] == ["4010", "4020", "4900"]
    assert invoice.number in rows[1]
