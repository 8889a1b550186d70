"""SQL statements of `PostgresQueue`, built once per queue table.

The table name is the only text spliced into a statement, and it is built from
a queue name that `table_name_for` has validated and then double-quoted. Every
value travels as a bind parameter (`$1`, `$2`, ...).

A row is in one of three conditions: ready (state 'ready', lease NULL),
leased (state 'ready', lease set, `run_at` is the lease expiry) or dead
(state 'dead'). A ready row with `run_at` in the future waits for a retry.
A leased row whose `run_at` has passed has an expired lease, so it can be
claimed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MAX_QUEUE_NAME_LENGTH", "TABLE_PREFIX", "Statements", "table_name_for"]

TABLE_PREFIX = "prefactor_queue_"
_INDEX_SUFFIX = "_ready"
_MAX_IDENTIFIER_LENGTH = 63  # PostgreSQL truncates longer identifiers (NAMEDATALEN - 1).
MAX_QUEUE_NAME_LENGTH = _MAX_IDENTIFIER_LENGTH - len(TABLE_PREFIX) - len(_INDEX_SUFFIX)
_QUEUE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def table_name_for(queue_name: str) -> str:
    """Return the table name of a queue after validating the queue name.

    Raises:
        ValueError: The name is not 1 to `MAX_QUEUE_NAME_LENGTH` ASCII letters,
            digits or underscores starting with a letter or underscore.
    """
    if (
        not isinstance(queue_name, str)
        or len(queue_name) > MAX_QUEUE_NAME_LENGTH
        or _QUEUE_NAME.fullmatch(queue_name) is None
    ):
        raise ValueError(
            f"invalid queue name {queue_name!r}: a queue name must be 1 to "
            f"{MAX_QUEUE_NAME_LENGTH} ASCII letters, digits or underscores, "
            "starting with a letter or underscore"
        )
    return TABLE_PREFIX + queue_name


def _quote(identifier: str) -> str:
    # Safe only for names that passed table_name_for: they contain no quote.
    return '"' + identifier + '"'


@dataclass(frozen=True)
class Statements:
    """SQL text for one queue table, with `$n` placeholders for asyncpg."""

    table: str

    @property
    def channel(self) -> str:
        """LISTEN/NOTIFY channel, equal to the unquoted table name."""
        return self.table

    @property
    def lock_key(self) -> str:
        """Text hashed into the advisory lock that serializes schema creation."""
        return "prefactor_core.queue:" + self.table

    @property
    def create(self) -> list[str]:
        """Statements that create the table and its index if they are missing."""
        table = _quote(self.table)
        index = _quote(self.table + _INDEX_SUFFIX)
        return [
            f"""
            CREATE TABLE IF NOT EXISTS {table} (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                state text NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'dead')),
                payload jsonb,
                payload_pickle bytea,
                attempts integer NOT NULL DEFAULT 0,
                run_at timestamptz NOT NULL DEFAULT now(),
                lease uuid,
                last_error text,
                enqueued_at timestamptz NOT NULL DEFAULT now(),
                dead_at timestamptz
            )
            """,
            f"CREATE INDEX IF NOT EXISTS {index} ON {table} (run_at, id) WHERE state = 'ready'",
        ]

    @property
    def insert(self) -> str:
        """Insert rows from arrays ($1 jsonb text, $2 pickle bytes) and notify $3."""
        return f"""
            WITH added AS (
                INSERT INTO {_quote(self.table)} (payload, payload_pickle)
                SELECT p::jsonb, b FROM unnest($1::text[], $2::bytea[]) AS u(p, b)
                RETURNING id
            )
            SELECT pg_notify($3, ''), (SELECT count(*) FROM added)
            """

    @property
    def claim(self) -> str:
        """Lease up to $1 due rows to lease $2 for $3 seconds and return them.

        One extra row, whose item columns are NULL, carries three figures
        taken from the snapshot before the claim. `due_ids` contains the ids of
        up to $4 due rows, the claimed ones included. `scheduled` counts the
        unleased rows waiting for a later `run_at`, up to $4. `next_in` is
        the number of seconds until the earliest `run_at`.
        """
        table = _quote(self.table)
        # id = ANY(ARRAY(...)) makes the planner fetch the picked rows through
        # the primary key. A join with the subquery made it scan the table.
        return f"""
            WITH claimed AS (
                UPDATE {table}
                SET lease = $2, run_at = now() + $3 * interval '1 second'
                WHERE id = ANY(ARRAY(
                    SELECT id FROM {table}
                    WHERE state = 'ready' AND run_at <= now()
                    ORDER BY run_at, id
                    LIMIT $1
                    FOR UPDATE SKIP LOCKED
                ))
                RETURNING id, payload::text AS payload, payload_pickle, attempts
            ),
            figures AS (
                SELECT
                    ARRAY(
                        SELECT id FROM {table}
                        WHERE state = 'ready' AND run_at <= now()
                        LIMIT $4
                    ) AS due_ids,
                    (SELECT count(*) FROM (
                        SELECT 1 FROM {table}
                        WHERE state = 'ready' AND run_at > now() AND lease IS NULL
                        LIMIT $4
                    ) AS scheduled_rows) AS scheduled,
                    (SELECT extract(epoch FROM min(run_at) - now())
                     FROM {table} WHERE state = 'ready') AS next_in
            )
            SELECT id, payload, payload_pickle, attempts,
                   NULL::bigint[], NULL::bigint, NULL::float8
            FROM claimed
            UNION ALL
            SELECT NULL, NULL, NULL, NULL, due_ids, scheduled, next_in::float8
            FROM figures
            """

    @property
    def extend(self) -> str:
        """Push the lease of rows ($1 ids, $2 leases) to $3 seconds from now.

        Rows locked by another statement, such as the DELETE of their ack,
        are skipped, so the extension never waits for a lock and cannot
        deadlock with that DELETE.
        """
        table = _quote(self.table)
        return f"""
            UPDATE {table}
            SET run_at = now() + $3 * interval '1 second'
            WHERE id = ANY(ARRAY(
                SELECT q.id
                FROM {table} AS q
                JOIN unnest($1::bigint[], $2::uuid[]) AS held(id, lease)
                    ON q.id = held.id AND q.lease = held.lease
                FOR UPDATE OF q SKIP LOCKED
            ))
            """

    @property
    def delete(self) -> str:
        """Delete acknowledged rows ($1 ids, $2 leases) and return their ids.

        The rows are locked in id order, so two deletes that share rows wait
        for each other instead of deadlocking.
        """
        table = _quote(self.table)
        return f"""
            DELETE FROM {table}
            WHERE id = ANY(ARRAY(
                SELECT q.id
                FROM {table} AS q
                JOIN unnest($1::bigint[], $2::uuid[]) AS held(id, lease)
                    ON q.id = held.id AND q.lease = held.lease
                ORDER BY q.id
                FOR UPDATE OF q
            ))
            RETURNING id
            """

    @property
    def retry(self) -> str:
        """Count a failed attempt on row $1 (lease $2), due in $3 s, error $4; notify $5."""
        return f"""
            WITH retried AS (
                UPDATE {_quote(self.table)}
                SET attempts = attempts + 1, lease = NULL, last_error = $4,
                    run_at = now() + $3 * interval '1 second'
                WHERE id = $1 AND lease = $2
                RETURNING id
            )
            SELECT pg_notify($5, ''), (SELECT count(*) FROM retried)
            """

    @property
    def bury(self) -> str:
        """Mark leased row $1 (lease $2) dead with error text $3 and return its id."""
        return f"""
            UPDATE {_quote(self.table)}
            SET state = 'dead', attempts = attempts + 1, lease = NULL,
                last_error = $3, dead_at = now()
            WHERE id = $1 AND lease = $2
            RETURNING id
            """

    @property
    def bury_malformed(self) -> str:
        """Mark leased row $1 (lease $2) dead with error text $3, keeping attempts."""
        return f"""
            UPDATE {_quote(self.table)}
            SET state = 'dead', lease = NULL, last_error = $3, dead_at = now()
            WHERE id = $1 AND lease = $2
            """

    @property
    def list_dead(self) -> str:
        """Return up to $1 dead rows, oldest first."""
        return f"""
            SELECT id, payload::text, payload_pickle, attempts, last_error, dead_at
            FROM {_quote(self.table)}
            WHERE state = 'dead'
            ORDER BY dead_at, id
            LIMIT $1
            """

    @property
    def requeue_dead(self) -> str:
        """Make dead rows ready again with no attempts ($1 ids, or NULL for all); notify $2."""
        return f"""
            WITH revived AS (
                UPDATE {_quote(self.table)}
                SET state = 'ready', attempts = 0, run_at = now(), dead_at = NULL
                WHERE state = 'dead' AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
                RETURNING id
            )
            SELECT pg_notify($2, ''), (SELECT count(*) FROM revived)
            """
