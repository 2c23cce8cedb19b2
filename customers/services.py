"""Writes of customers and their contacts (the admin and Paid's v2 API call these).

Values arrive validated (types, lengths, ISO codes); these functions keep what only the
stored data can tell: external ids are unique, and a customer that anything was billed
or recorded against is never destroyed.
"""

from django.db import IntegrityError, models, transaction

from customers.errors import ConflictError
from customers.models import Contact, Customer


def save_unique_external_id(instance: models.Model, *, noun: str) -> None:
    """Save, answering a taken external id as a conflict (also when a concurrent write
    took it between the check and the insert: the unique index decides). Customers,
    contacts and agents each have a unique `external_id`."""
    model, external_id = type(instance), instance.external_id
    taken = (
        external_id is not None
        and model.objects.filter(external_id=external_id).exclude(pk=instance.pk).first()
    )
    if taken:
        raise ConflictError(
            f"{noun} {taken.pk} already has the external id {external_id!r}.", field="externalId"
        )
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        if external_id is not None and model.objects.filter(external_id=external_id).exists():
            raise ConflictError(
                f"Another {noun.lower()} already has the external id {external_id!r}.",
                field="externalId",
            ) from exc
        raise


def update_locked(instance: models.Model, changes: dict[str, object], *, noun: str):
    """Change the named fields of the object's row, locked first: a row deleted meanwhile
    raises DoesNotExist (save() would otherwise insert it again)."""
    with transaction.atomic():
        locked = type(instance).objects.select_for_update().get(pk=instance.pk)
        for name, value in changes.items():
            setattr(locked, name, value)
        save_unique_external_id(locked, noun=noun)
    return locked


def customer_create(
    *, external_id: str, name: str, billing_email: str, currency: str, **details: object
) -> Customer:
    """A new customer; signals already kept under its external id are attached to it (the
    post-save receiver of agents). `details` are other Customer fields by name."""
    customer = Customer(
        external_id=external_id,
        name=name,
        billing_email=billing_email,
        currency=currency,
        **details,
    )
    save_unique_external_id(customer, noun="Customer")
    return customer


def customer_update(*, customer: Customer, **changes: object) -> Customer:
    """Change the named Customer fields; the external id stays unique."""
    return update_locked(customer, changes, noun="Customer")


def uses_of(instance: models.Model) -> list[str]:
    """What keeps the object from being deleted: the names of the models whose rows point
    at it through a PROTECT or RESTRICT key (one EXISTS query each, no rows loaded)."""
    names = []
    for relation in instance._meta.related_objects:
        if relation.on_delete not in (models.PROTECT, models.RESTRICT):
            continue
        rows = relation.related_model._base_manager.filter(**{relation.field.name: instance})
        if rows.exists():
            names.append(str(relation.related_model._meta.verbose_name_plural))
    return names


def customer_delete(*, customer: Customer) -> None:
    """Delete a customer nothing was recorded against, with its contacts. A customer with
    signals, costs, agreements, invoices or margins is the billing record and is kept:
    ConflictError, which names them. The customer's row is locked first, so a signal
    cannot be attached between the check and the delete (its foreign key waits); a
    customer deleted meanwhile raises Customer.DoesNotExist."""
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        uses = uses_of(locked)
        if uses:
            raise ConflictError(
                f"Customer {locked.external_id!r} has {', '.join(uses)}: it is part of the "
                "billing record and cannot be deleted. Mark it churned instead (churnDate)."
            )
        locked.delete()


def contact_create(*, customer: Customer, email: str, **details: object) -> Contact:
    contact = Contact(customer=customer, email=email, **details)
    save_unique_external_id(contact, noun="Contact")
    return contact


def contact_update(*, contact: Contact, **changes: object) -> Contact:
    return update_locked(contact, changes, noun="Contact")


def contact_delete(*, contact: Contact) -> None:
    contact.delete()
