"""The rendering phase of `make bench-closing`: the PDF of every invoice just closed,
rendered and stored by one process, as a Celery worker does after each close commits
(closing itself never renders: its time above does not include this). Run by
closing.py as `python tests/benchmarks/invoice_pdfs.py`, in its own process, so the
peak RSS is the rendering worker's alone. Prints one JSON line:
- first_seconds: the first PDF (cold: WeasyPrint imported, fonts loaded);
- seconds, pdfs: the rest, rendered and stored (`invoice_pdf_store`, one transaction each);
- html_seconds: the baseline, the same invoices' printable HTML alone (Django template);
- peak_mb, average_bytes.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def render_all() -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db.models import Avg

    from billing.documents import invoice_html, invoice_pdf_store
    from billing.models import Invoice, InvoiceDocument

    ids = list(Invoice.objects.issued().order_by("pk").values_list("pk", flat=True))
    related = Invoice.objects.select_related("customer", "period")
    t = time.perf_counter()
    for pk in ids:
        invoice_html(related.get(pk=pk))
    html_seconds = time.perf_counter() - t

    t = time.perf_counter()
    invoice_pdf_store(ids[0])
    first_seconds = time.perf_counter() - t
    t = time.perf_counter()
    for pk in ids[1:]:
        invoice_pdf_store(pk)
    seconds = time.perf_counter() - t
    stored = InvoiceDocument.objects.filter(invoice_id__in=ids)
    assert stored.count() == len(ids), "every invoice has its PDF"
    return {
        "pdfs": len(ids) - 1,
        "seconds": seconds,
        "first_seconds": first_seconds,
        "html_seconds": html_seconds,
        "invoices": len(ids),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "average_bytes": stored.aggregate(size=Avg("size"))["size"],
    }


if __name__ == "__main__":
    print(json.dumps(render_all()))
