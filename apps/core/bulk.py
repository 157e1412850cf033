"""Bulk writing: many rows of any model in one transaction, by ``bulk_create`` or PostgreSQL ``COPY``.

Why a path beside the services: a demo or benchmark registry needs 100,000 patients in minutes,
which per-record validation and saves cannot give. The caller builds rows that are valid by
construction and says which model and which columns they fill; nothing here knows what a model
means (this module serves every app, so it imports none above ``apps.core``).

Two ways to write, same rows and same result:

- ``bulk_create`` (every database; the tests' SQLite): parents whose ids other rows need get their
  primary keys back from ``bulk_create``.
- ``COPY`` (PostgreSQL): Django's per-value preparation plus psycopg's client-side quoting cost
  ~150 µs a row under ``bulk_create``, which put 100,000 patients (≈1.3 million rows) over the
  three-minute budget (measured with ``bench/seed_demo_bench.py``). Parents' ids are reserved from
  their identity sequences first, then every table is copied.

:func:`chunks_ahead` lets the caller prepare the next chunk of rows in a background thread while
this one is written: the database's work (and psycopg's waiting for it, which releases the GIL)
overlaps with the Python that makes the rows, instead of adding to it.
"""

from __future__ import annotations

import itertools
import json
import operator
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models
from django.utils import timezone

from .audit import audit_entries_chain
from .models import AuditChainHead, AuditEntry

T = TypeVar("T")
P = TypeVar("P")


class BulkTable:
    """How rows of one model are written: the columns the caller supplies; every other field takes its default.

    Rows are plain tuples in ``columns`` order. Building model instances positionally skips the
    keyword handling of ``Model.__init__``, the costliest step after the insert itself.
    """

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        self.model = model
        self.columns = tuple(columns)
        fields = list(model._meta.concrete_fields)
        by_attname = {field.attname: field for field in fields}
        unknown = set(self.columns) - set(by_attname)
        if unknown:
            raise ImproperlyConfigured(f"{model.__name__} has no field(s) {sorted(unknown)}")
        self.template: list[Any] = []
        self.filled: list[tuple[str, Any]] = []  # (column, value) of unsupplied fields, for COPY
        self.stamped: list[str] = []  # auto_now / auto_now_add columns, stamped at write time
        # auto_now(_add) fields the caller supplies (e.g. an assessment's assessed_at in the past).
        self.supplied_stamps = [field for field in fields if field.attname in self.columns and _stamps(field)]
        for field in fields:
            # As Model.__init__ would: the declared default, else None, else "" for blank text.
            # (Shared across rows: fine for the immutable defaults the models declare.)
            default = None if field.primary_key else field.get_default()
            self.template.append(default)
            if field.attname in self.columns or field.primary_key:
                continue
            if _stamps(field):
                self.stamped.append(field.column)
            elif field.has_default() or field.null or (field.blank and field.empty_strings_allowed):
                self.filled.append((field.column, field.get_db_prep_save(default, connection)))
            else:
                raise ImproperlyConfigured(f"bulk rows give no value for the required {model.__name__}.{field.name}")
        positions = [list(by_attname).index(column) for column in self.columns]
        first = min(positions, default=len(fields))
        # Fast path: the supplied columns are the model's last fields, in order or reordered in C.
        self.contiguous = sorted(positions) == list(range(first, len(fields)))
        self.reorder: Callable[[tuple], tuple] | None = None
        if self.contiguous and positions != sorted(positions):
            self.reorder = operator.itemgetter(*sorted(range(len(positions)), key=positions.__getitem__))
        self.prefix = tuple(self.template[:first])
        self.positions = positions
        self.json_positions = [
            index for index, column in enumerate(self.columns) if isinstance(by_attname[column], models.JSONField)
        ]

    def instances(self, rows: Iterable[tuple]) -> list[models.Model]:
        model = self.model
        if self.contiguous:
            prefix, reorder = self.prefix, self.reorder
            if reorder is None:
                return [model(*prefix, *row) for row in rows]
            return [model(*prefix, *reorder(row)) for row in rows]
        objects = []
        for row in rows:
            args = self.template.copy()
            for position, value in zip(self.positions, row, strict=True):
                args[position] = value
            objects.append(model(*args))
        return objects

    def bulk_create(self, rows: Sequence[tuple], batch_size: int) -> list[models.Model]:
        with _supplied_stamps_kept(self.supplied_stamps):
            return self.model.objects.bulk_create(self.instances(rows), batch_size=batch_size)

    def reserve_ids(self, count: int) -> list[int]:
        """``count`` primary keys from the table's sequence (PostgreSQL); never handed out twice."""
        pk = self.model._meta.pk.column
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [self.model._meta.db_table, pk, count],
            )
            return [row[0] for row in cursor.fetchall()]

    def copy(self, rows: Iterable[tuple], ids: Sequence[int] | None = None) -> None:
        """PostgreSQL ``COPY … FROM STDIN`` of the rows, with defaults and timestamps filled in.

        With ``ids`` the primary keys are written too (from :meth:`reserve_ids`), one per row.
        """
        now = timezone.now()
        extra = tuple(value for _, value in self.filled) + (now,) * len(self.stamped)
        names = [*self.columns, *(column for column, _ in self.filled), *self.stamped]
        if self.json_positions:
            json_positions = self.json_positions
            rows = (tuple(json.dumps(v) if i in json_positions else v for i, v in enumerate(row)) for row in rows)
        if ids is not None:
            names.insert(0, self.model._meta.pk.column)
            rows = ((pk, *row) for pk, row in zip(ids, rows, strict=True))
        quote = connection.ops.quote_name
        statement = f"COPY {quote(self.model._meta.db_table)} ({', '.join(quote(name) for name in names)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            write = copy.write_row
            for row in rows:
                write(row + extra)


def _stamps(field: models.Field) -> bool:
    return getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)


@contextmanager
def _supplied_stamps_kept(fields: Sequence[models.Field]) -> Iterator[None]:
    """Let ``bulk_create`` keep the supplied value of auto_now(_add) fields instead of stamping now.

    Django's ``pre_save`` of such a field overwrites whatever the instance holds; the switch is
    undone at once, and bulk writing runs in a management command, not beside requests.
    """
    saved = [(field, field.auto_now, field.auto_now_add) for field in fields]
    try:
        for field in fields:
            field.auto_now = field.auto_now_add = False
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


class BulkWriter:
    """Writes rows of :class:`BulkTable` s in one run, by ``COPY`` or ``bulk_create``, and audit entries with them."""

    def __init__(self, *, batch_size: int, use_copy: bool) -> None:
        self.batch_size = batch_size
        self.use_copy = use_copy
        columns = [field.attname for field in AuditEntry._meta.concrete_fields if not field.primary_key]
        self.audit = BulkTable(AuditEntry, columns)
        self._audit_values = operator.attrgetter(*columns)

    def parents(self, table: BulkTable, rows: list[tuple]) -> list[int]:
        """Write rows whose ids other rows point to; return the ids in row order."""
        if self.use_copy:
            ids = table.reserve_ids(len(rows)) if rows else []
            table.copy(rows, ids=ids)
            return ids
        return [obj.pk for obj in table.bulk_create(rows, self.batch_size)]

    def leaves(self, table: BulkTable, rows: list[tuple]) -> int:
        """Write rows nothing points to; return how many."""
        if self.use_copy:
            table.copy(rows)
        else:
            table.bulk_create(rows, self.batch_size)
        return len(rows)

    def audit_entries(self, entries: Sequence[AuditEntry]) -> int:
        """Unsaved audit entries, in order, each given its place in its site's hash chain as audit_write would."""
        heads = audit_entries_chain(entries)
        written = self.leaves(self.audit, [self._audit_values(entry) for entry in entries])
        AuditChainHead.objects.bulk_update(heads, ["sequence", "last_hash"])
        return written


def copy_chosen(use_copy: bool | None) -> bool:
    """Whether to write with ``COPY``: by default on PostgreSQL, and never elsewhere."""
    if use_copy is None:
        return connection.vendor == "postgresql"
    if use_copy and connection.vendor != "postgresql":
        raise ValueError("COPY needs PostgreSQL")
    return use_copy


@contextmanager
def constraints_checked_per_statement(use_copy: bool) -> Iterator[None]:
    """While copying, check foreign keys as each ``COPY`` ends rather than all at once at commit.

    They are deferred by default (Django declares them ``DEFERRABLE INITIALLY DEFERRED``); checking
    each statement spreads the work over the run, while the next chunk is being prepared. Set back
    to deferred at the end, in case a caller's transaction encloses this one; after an error the
    transaction is rolled back anyway.
    """
    if use_copy:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    yield
    if use_copy:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def tables_analyze(table_models: Iterable[type[models.Model]]) -> None:
    """Fresh planner statistics on PostgreSQL after a bulk load (nothing elsewhere).

    After a bulk load the estimates are of an empty table, and e.g. the patient list would sort
    100,000 rows instead of walking the registry-ID index.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in table_models:
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def values_getter(names: Sequence[str]) -> Callable[[Any], tuple]:
    """A getter returning the named attributes as a tuple (``attrgetter`` returns a bare value for one)."""
    getter = operator.attrgetter(*names)
    return getter if len(names) > 1 else lambda obj: (getter(obj),)


def chunks_ahead(
    items: Iterator[T], size: int, prepare: Callable[[T], P] | None = None
) -> Iterator[list[tuple[T, P | tuple[()]]]]:
    """Chunks of ``size`` items with what ``prepare`` made of each, the next chunk made by a background thread.

    The items are drawn in that one thread, in order, so a seeded generator stays deterministic.
    Without ``prepare`` each item comes with ``()``.
    """
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            while not stop.is_set():
                chunk = [(item, prepare(item) if prepare else ()) for item in itertools.islice(items, size)]
                message = ("chunk", chunk) if chunk else ("end", None)
                while not stop.is_set():
                    try:
                        ready.put(message, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if not chunk:
                    return
        except BaseException as error:  # handed to the consumer, which re-raises it
            ready.put(("error", error))

    producer = threading.Thread(target=produce, name="bulk-chunks-ahead", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        producer.join()
