"""Two credit notes of one invoice at the same time (PostgreSQL): crediting what is left
twice issues one and refuses the other; credits that fit are both issued, numbered
without gaps; one idempotency key sent twice at once issues one."""

import threading

import pytest
from django.db import connection

from billing.credit_notes import CreditRequest, credit_note_issue_once
from billing.errors import CreditNoteError
from billing.models import CreditNote, Invoice
from tests.mail_helpers import multi_rate_invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(invoice, requests):
    """Run credit_note_issue_once for each (lines, reference) at once."""
    barrier = threading.Barrier(len(requests))
    results = []

    def issue(lines, reference):
        try:
            barrier.wait()
            note, created = credit_note_issue_once(
                invoice_id=invoice.pk, reason="race", lines=lines, reference=reference
            )
            results.append(("created" if created else "replayed", note.number))
        except CreditNoteError as exc:
            results.append(("refused", str(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=r) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("attempt", range(3))
def test_crediting_what_is_left_twice_at_once_issues_one(on_postgres, attempt):
    _, invoice = multi_rate_invoice()
    results = race(invoice, [(None, ""), (None, "")])
    assert sorted(kind for kind, _ in results) == ["created", "refused"], results
    refused = next(text for kind, text in results if kind == "refused")
    assert "nothing is left" in refused
    invoice.refresh_from_db()
    assert invoice.amount_credited == invoice.total
    assert list(CreditNote.objects.values_list("sequence", flat=True)) == [1]


def test_credits_that_fit_are_both_issued_with_gapless_numbers(on_postgres):
    _, invoice = multi_rate_invoice()
    outcome, fee = invoice.lines.order_by("position")
    results = race(invoice, [([CreditRequest(outcome.pk)], ""), ([CreditRequest(fee.pk)], "")])
    assert sorted(kind for kind, _ in results) == ["created", "created"], results
    assert sorted(CreditNote.objects.values_list("sequence", flat=True)) == [1, 2]
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert invoice.amount_credited == invoice.total and invoice.fully_credited


def test_the_same_key_twice_at_once_issues_one(on_postgres):
    _, invoice = multi_rate_invoice()
    _, fee = invoice.lines.order_by("position")
    lines = [CreditRequest(fee.pk)]
    results = race(invoice, [(lines, "KEY-1"), (lines, "KEY-1")])
    assert sorted(kind for kind, _ in results) == ["created", "replayed"], results
    assert len({number for _, number in results}) == 1
    assert CreditNote.objects.count() == 1
