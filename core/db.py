"""Database helpers shared by the apps (imports no app: every layer may use it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

UPSERT_CHUNK = 400  # rows per statement, under SQLite's bound-parameter limit


def upsert_add(
    table: str, keys: Sequence[str], sums: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (key columns, then sum columns), or add their sums to the rows
    already holding those keys: one statement per chunk, safe under concurrent writers
    (``INSERT ... ON CONFLICT DO UPDATE``, PostgreSQL and SQLite alike). Give rows in a
    stable order so that concurrent writers lock shared rows in the same order."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in (*keys, *sums))
    conflict = ", ".join(quote(c) for c in keys)
    updates = ", ".join(
        f"{quote(c)} = {quote(table)}.{quote(c)} + excluded.{quote(c)}" for c in sums
    )
    one = "(" + ", ".join(["%s"] * (len(keys) + len(sums))) + ")"
    with connection.cursor() as cursor:
        for offset in range(0, len(rows), UPSERT_CHUNK):
            chunk = rows[offset : offset + UPSERT_CHUNK]
            cursor.execute(
                f"INSERT INTO {quote(table)} ({columns}) VALUES {', '.join([one] * len(chunk))} "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}",
                [value for row in chunk for value in row],
            )
