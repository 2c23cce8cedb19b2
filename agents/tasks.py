from celery import shared_task

from agents.services import signals_attach_unattributed


@shared_task
def attach_unattributed_signals() -> int:
    """Safety net: attach any waiting signal whose customer now exists. Safe to run twice."""
    return signals_attach_unattributed()
