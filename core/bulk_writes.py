"""Bulk writes that say what they wrote.

``QuerySet.update``, ``bulk_update`` and ``bulk_create`` send neither ``post_save`` nor
``post_delete``, so what a model's signals keep current — each process's cached credentials —
would miss them. A model whose rows are cached takes a ``SignalledQuerySet``: in the write's
own transaction it reads what identifies the rows, writes them, and sends ``rows_written``,
whose receivers do what a save's would (``apikeys.signals``, ``accounts.signals``).
"""

from django.db import models, transaction
from django.dispatch import Signal

# Sent by the model's class. ``before``: the written rows' ``identity_field`` as it was before
# the write (empty for new rows); ``fields``: the fields written (``None`` for new rows).
rows_written = Signal()


class SignalledQuerySet(models.QuerySet):
    identity_field = "pk"
    # Fields no receiver cares about (counters, timestamps): written with nothing read or sent.
    unsignalled_fields: frozenset = frozenset()

    def update(self, **kwargs):
        if self.unsignalled_fields.issuperset(kwargs):
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            before = list(self.values_list(self.identity_field, flat=True))
            updated = super().update(**kwargs)
            rows_written.send(self.model, before=before, fields=frozenset(kwargs))
        return updated

    update.alters_data = True

    def bulk_update(self, objs, fields, batch_size=None):
        objs, fields = list(objs), frozenset(fields)
        if not objs or self.unsignalled_fields.issuperset(fields):
            return super().bulk_update(objs, fields, batch_size=batch_size)
        with transaction.atomic(using=self.db):
            stored = self.filter(pk__in=[obj.pk for obj in objs])
            before = list(stored.values_list(self.identity_field, flat=True))
            updated = super().bulk_update(objs, fields, batch_size=batch_size)
            rows_written.send(self.model, before=before, fields=fields)
        return updated

    bulk_update.alters_data = True

    def bulk_create(self, objs, *args, **kwargs):
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            rows_written.send(self.model, before=[], fields=None)
        return created

    bulk_create.alters_data = True
