from django.db.models.signals import post_save
from django.dispatch import receiver

from agents.services import signals_attach_unattributed
from customers.models import Customer


@receiver(post_save, sender=Customer, dispatch_uid="attach_signals_on_customer_save")
def attach_signals_to_new_customer(sender, instance: Customer, **kwargs) -> None:
    # Signals that arrived before the customer existed are attached as soon as it does.
    signals_attach_unattributed(external_ids=[instance.external_id])
