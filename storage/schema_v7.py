"""The table migration v7 creates, frozen as it was then (``storage.models``
may change later; this must not): the delivery instances alive."""

from __future__ import annotations

import peewee


class DeliveryInstance(peewee.Model):
    instance = peewee.CharField(primary_key=True, max_length=255)
    seen_until = peewee.DoubleField()

    class Meta:
        table_name = "delivery_instances"


V7_MODELS = (DeliveryInstance,)
