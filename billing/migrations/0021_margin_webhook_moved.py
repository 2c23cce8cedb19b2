"""Margin alerts are delivered by the webhooks app (a `margin.alert` event to the
endpoints subscribed to it): the single MARGIN_ALERT_WEBHOOK_URL and its log of
attempts go. The old attempts' log is dropped with its table (it logged deliveries
to a URL that is no longer configured)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0020_disputes'),
    ]

    operations = [
        migrations.DeleteModel(
            name='WebhookDelivery',
        ),
    ]
