"""Outcome disputes: a customer (statement link) or an account manager contests billed
outcomes; accepting them credits exactly what they added, and they are never billed again.

Sent after the transaction commits:
- `dispute_opened(dispute_id=...)`
- `dispute_resolved(dispute_id=...)`: accepted (with its credit note, if any) or rejected.
"""

import django.dispatch

dispute_opened = django.dispatch.Signal()
dispute_resolved = django.dispatch.Signal()
