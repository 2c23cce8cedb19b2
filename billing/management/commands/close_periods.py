from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.models import PriceAgreement
from billing.money import format_money, format_quantity
from billing.periods import periods_create_due, periods_due
from billing.services import ClosingError, invoice_preview, period_close


class Command(BaseCommand):
    help = (
        "Close every due billing period now (the same closing as Celery beat's "
        "close-due-periods), earliest first. --dry-run prints the invoices it would issue "
        "for the due periods that exist, and writes nothing (it creates no period either)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--agreement", type=int, help="Only this agreement (its id).")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, agreement=None, dry_run=False, **options):
        if agreement is not None and not PriceAgreement.objects.filter(pk=agreement).exists():
            raise CommandError(f"No agreement with id {agreement}.")
        issued = failed = 0
        seen = set()
        while True:
            now = timezone.now()
            if not dry_run:
                periods_create_due(now=now)
            due = [
                p
                for p in periods_due(now=now)
                if (agreement is None or p.agreement_id == agreement) and p.pk not in seen
            ]
            if not due:
                break
            for period in due:
                seen.add(period.pk)
                try:
                    if dry_run:
                        result = invoice_preview(period=period)
                    else:
                        result = period_close(period_id=period.pk)
                except ClosingError as exc:
                    failed += 1
                    self.stderr.write(f"{period}: not closed: {exc}")
                    continue
                if result is None:
                    continue
                issued += 1
                self._print(period, result, dry_run)
            if dry_run:
                break  # later periods wait for these ones, which a dry run does not close
        verb = "would issue" if dry_run else "issued"
        self.stdout.write(f"{verb} {issued} invoice(s); {failed} period(s) could not be closed.")
        if failed:
            raise CommandError(f"{failed} period(s) could not be closed; see above.")

    def _print(self, period, result, dry_run):
        number = "(dry run)" if dry_run else result.number
        lines = result.lines if dry_run else result.lines.all()
        currency = result.currency
        total = format_money(result.total, currency)
        self.stdout.write(f"Invoice {number} {period}: total {total} {currency}")
        for line in lines:
            self.stdout.write(f"  {format_money(line.amount, currency):>14} {line.description}")
        for tax in result.taxes if dry_run else result.taxes.all():
            name, percent = (
                (tax.rate.name, tax.rate.percent) if dry_run else (tax.name, tax.percent)
            )
            self.stdout.write(
                f"  {format_money(tax.tax, currency):>14} {name} on "
                f"{format_money(tax.net, currency)} ({format_quantity(percent)}%)"
            )
