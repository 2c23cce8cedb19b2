"""Credit notes: issuing a credit against an issued invoice (full, per line, or a stated
amount on a line), with tax reversed at the invoice's rates and its own gapless number.

Sent after the issuing transaction commits:
- `credit_note_issued(credit_note_id=...)`: the credit note exists (PDF, e-mail, webhook).
"""

import django.dispatch

credit_note_issued = django.dispatch.Signal()
