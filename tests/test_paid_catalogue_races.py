"""A customer, contact or agent deleted while a request about it was under way: the
write finds it gone (a 404), and never inserts it again."""

import pytest

from agents.api.paid_v2 import catalogue_exception_handler
from agents.catalogue import agent_update
from agents.models import Agent
from customers.models import Contact, Customer
from customers.services import contact_update, customer_delete, customer_update
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_a_customer_deleted_meanwhile_is_not_written_again():
    stale = f.CustomerFactory()
    Customer.objects.filter(pk=stale.pk).delete()
    with pytest.raises(Customer.DoesNotExist):
        customer_update(customer=stale, name="Back?")
    with pytest.raises(Customer.DoesNotExist):
        customer_delete(customer=stale)
    assert not Customer.objects.exists()


def test_a_contact_or_agent_deleted_meanwhile_is_not_written_again():
    contact = Contact.objects.create(customer=f.CustomerFactory(), email="a@b.example")
    Contact.objects.filter(pk=contact.pk).delete()
    with pytest.raises(Contact.DoesNotExist):
        contact_update(contact=contact, first_name="Ann")
    agent = Agent(external_id="gone", name="Gone")
    agent.save()
    Agent.objects.filter(pk=agent.pk).delete()
    with pytest.raises(Agent.DoesNotExist):
        agent_update(agent=agent, name="Back?")
    assert not Contact.objects.exists() and not Agent.objects.exists()


def test_the_api_answers_it_as_a_404():
    response = catalogue_exception_handler(Customer.DoesNotExist(), {})
    assert response.status_code == 404 and "deleted" in response.data["detail"]
