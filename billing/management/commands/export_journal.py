from django.core.management.base import BaseCommand, CommandError

from billing.exports import csv_chunks
from billing.journal import JOURNAL_COLUMNS, JournalRangeError, journal_day, journal_rows


class Command(BaseCommand):
    help = (
        "Write the accounting journal (a CSV of the invoices, voids, credit notes and "
        "payments) of the UTC days --from to --to, both included, to stdout or --output. "
        "A read: it changes nothing. The columns are in docs/accounting-export.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", required=True, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", required=True, help="YYYY-MM-DD, included")
        parser.add_argument("--output", help="A file to write (default: stdout).")

    def handle(self, *args, date_from, date_to, output=None, **options):
        try:
            rows = journal_rows(
                first=journal_day(date_from, "--from"), last=journal_day(date_to, "--to")
            )
        except JournalRangeError as exc:
            raise CommandError(str(exc)) from None
        chunks = csv_chunks(JOURNAL_COLUMNS, rows)
        if output is None:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
            return
        try:
            with open(output, "w", encoding="utf-8", newline="") as out:
                for chunk in chunks:
                    out.write(chunk)
        except OSError as exc:
            raise CommandError(f"--output: cannot write {output}: {exc.strerror}.") from None
