"""``SqlRunStore``: pipeline runs, steps, items and snapshots in SQLite or PostgreSQL.

Every method is one transaction; writes take the write lock up front on SQLite (``writer``).
``record`` upserts a whole batch of item outcomes with one multi-row statement per table, which
is what lets a fan-out record thousands of items per second. Runs list by (created_at, id),
newest first, with keyset cursors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from shoal.errors import ConflictError, NotFoundError
from shoal.pipelines.records import (
    ItemRecord,
    ItemStatus,
    RunQuery,
    RunRecord,
    RunStatus,
    SnapshotKind,
    SnapshotRecord,
    StepRecord,
    StepStatus,
    ValueRef,
)
from shoal.registry.pages import check_page, decode_cursor, encode_cursor
from shoal.registry.records import Page, PageRequest
from shoal.storage.sql_store import SqlStore
from shoal.storage.tables import pipeline_items, pipeline_runs, pipeline_snapshots, pipeline_steps

_CHUNK = 500


class SqlRunStore(SqlStore):
    """A ``RunStore`` on a SQLAlchemy engine (migrated to 0003 or later)."""

    def _upsert(
        self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        if not rows:
            return
        # One compiled statement, executed for many rows: SQLAlchemy batches the rows into
        # multi-row INSERTs itself ("insertmanyvalues") and caches the compilation.
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table)
        changed = {c: insert.excluded[c] for c in rows[0] if c not in keys}
        conn.execute(insert.on_conflict_do_update(index_elements=keys, set_=changed), rows)

    # -- runs ------------------------------------------------------------------------------

    def add_run(self, run: RunRecord, steps: Sequence[StepRecord]) -> None:
        with self._write() as conn:
            exists = conn.execute(
                sa.select(pipeline_runs.c.id).where(pipeline_runs.c.id == run.id)
            ).first()
            if exists is not None:
                raise ConflictError(f"run {run.id!r} already exists")
            conn.execute(pipeline_runs.insert().values(_run_row(run)))
            if steps:
                conn.execute(pipeline_steps.insert(), [_step_row(step) for step in steps])

    def find_run(self, run_id: str) -> RunRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(pipeline_runs).where(pipeline_runs.c.id == run_id)).first()
        return None if row is None else _run(row._mapping)

    def _owned(self, conn: Connection, run_id: str) -> str:
        owner = conn.execute(
            sa.select(pipeline_runs.c.owner).where(pipeline_runs.c.id == run_id)
        ).scalar()
        if owner is None:
            raise NotFoundError(f"run {run_id!r} does not exist")
        return str(owner)

    def list_runs(self, query: RunQuery, page: PageRequest) -> Page[RunRecord]:
        check_page(page)
        c = pipeline_runs.c
        select = sa.select(pipeline_runs)
        if query.pipeline is not None:
            select = select.where(c.pipeline == query.pipeline)
        if query.status is not None:
            select = select.where(c.status == query.status.value)
        if page.cursor is not None:
            at, run_id = decode_cursor(page.cursor)
            when = datetime.fromisoformat(str(at))
            select = select.where(
                sa.or_(c.created_at < when, sa.and_(c.created_at == when, c.id < str(run_id)))
            )
        select = select.order_by(c.created_at.desc(), c.id.desc()).limit(page.limit + 1)
        with self._read() as conn:
            runs = [_run(row._mapping) for row in conn.execute(select)]
        more = len(runs) > page.limit
        runs = runs[: page.limit]
        cursor = encode_cursor(runs[-1].created_at.isoformat(), runs[-1].id) if more else None
        return Page(tuple(runs), cursor)

    def claim_run(self, run_id: str, expected_owner: str, owner: str, at: datetime) -> RunRecord:
        c = pipeline_runs.c
        with self._write() as conn:
            current = self._owned(conn, run_id)
            if current != expected_owner:
                raise ConflictError(f"run {run_id} was taken over by {current or 'another'}")
            conn.execute(
                pipeline_runs.update()
                .where(c.id == run_id, c.owner == expected_owner)
                .values(
                    owner=owner,
                    status=RunStatus.RUNNING.value,
                    heartbeat_at=at,
                    finished_at=None,
                    error="",
                    attempts=c.attempts + 1,
                )
            )
            row = conn.execute(sa.select(pipeline_runs).where(c.id == run_id)).one()
        return _run(row._mapping)

    def record(
        self,
        run_id: str,
        owner: str,
        at: datetime,
        items: Sequence[ItemRecord] = (),
        steps: Sequence[StepRecord] = (),
        snapshots: Sequence[SnapshotRecord] = (),
    ) -> None:
        with self._write() as conn:
            current = self._owned(conn, run_id)
            if current != owner:
                raise ConflictError(f"run {run_id} is now run by {current or 'nobody'}")
            conn.execute(
                pipeline_runs.update().where(pipeline_runs.c.id == run_id).values(heartbeat_at=at)
            )
            self._upsert(conn, pipeline_steps, [_step_row(s) for s in steps], ["run_id", "name"])
            self._upsert(
                conn, pipeline_items, [_item_row(i) for i in items], ["run_id", "step", "item"]
            )
            self._upsert(
                conn,
                pipeline_snapshots,
                [_snapshot_row(s) for s in snapshots],
                ["run_id", "step", "item", "name"],
            )

    def finish_run(
        self, run_id: str, owner: str, status: RunStatus, at: datetime, error: str = ""
    ) -> RunRecord:
        c = pipeline_runs.c
        with self._write() as conn:
            current = self._owned(conn, run_id)
            if current != owner:
                raise ConflictError(f"run {run_id} is now run by {current or 'nobody'}")
            conn.execute(
                pipeline_runs.update()
                .where(c.id == run_id)
                .values(status=status.value, finished_at=at, heartbeat_at=at, error=error, owner="")
            )
            row = conn.execute(sa.select(pipeline_runs).where(c.id == run_id)).one()
        return _run(row._mapping)

    # -- steps, items, snapshots -----------------------------------------------------------

    def list_steps(self, run_id: str) -> list[StepRecord]:
        c = pipeline_steps.c
        with self._read() as conn:
            self._owned(conn, run_id)
            rows = conn.execute(
                sa.select(pipeline_steps).where(c.run_id == run_id).order_by(c.position)
            )
            return [_step(row._mapping) for row in rows]

    def list_items(self, run_id: str, step: str | None = None) -> list[ItemRecord]:
        i, s = pipeline_items.c, pipeline_steps.c
        select = (
            sa.select(pipeline_items)
            .join(pipeline_steps, sa.and_(s.run_id == i.run_id, s.name == i.step))
            .where(i.run_id == run_id)
            .order_by(s.position, i.item)
        )
        if step is not None:
            select = select.where(i.step == step)
        with self._read() as conn:
            self._owned(conn, run_id)
            return [_item(row._mapping) for row in conn.execute(select)]

    def find_cached(self, cache_keys: Iterable[str]) -> Mapping[str, ItemRecord]:
        keys = sorted(set(cache_keys))
        found: dict[str, ItemRecord] = {}
        c = pipeline_items.c
        with self._read() as conn:
            for start in range(0, len(keys), _CHUNK):
                select = sa.select(pipeline_items).where(
                    c.cache_key.in_(keys[start : start + _CHUNK]),
                    c.status == ItemStatus.SUCCEEDED.value,
                )
                for row in conn.execute(select):
                    item = _item(row._mapping)
                    found.setdefault(item.cache_key, item)
        return found

    def list_snapshots(self, run_id: str) -> list[SnapshotRecord]:
        c = pipeline_snapshots.c
        with self._read() as conn:
            self._owned(conn, run_id)
            rows = conn.execute(
                sa.select(pipeline_snapshots)
                .where(c.run_id == run_id)
                .order_by(c.step, c.item, c.name)
            )
            return [_snapshot(row._mapping) for row in rows]


def _run_row(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "pipeline": run.pipeline,
        "reference": run.reference,
        "params": dict(run.params),
        "status": run.status.value,
        "executor": run.executor,
        "created_at": run.created_at,
        "created_by": run.created_by,
        "finished_at": run.finished_at,
        "error": run.error,
        "rerun_of": run.rerun_of,
        "owner": run.owner,
        "heartbeat_at": run.heartbeat_at,
        "attempts": run.attempts,
    }


def _run(row: sa.RowMapping) -> RunRecord:
    return RunRecord(
        id=row["id"],
        pipeline=row["pipeline"],
        reference=row["reference"],
        params=row["params"],
        status=RunStatus(row["status"]),
        executor=row["executor"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        finished_at=row["finished_at"],
        error=row["error"],
        rerun_of=row["rerun_of"],
        owner=row["owner"],
        heartbeat_at=row["heartbeat_at"],
        attempts=row["attempts"],
    )


def _step_row(step: StepRecord) -> dict[str, Any]:
    return {
        "run_id": step.run_id,
        "name": step.name,
        "position": step.position,
        "code_digest": step.code_digest,
        "fan_out": step.fan_out,
        "status": step.status.value,
        "items": step.items,
        "started_at": step.started_at,
        "finished_at": step.finished_at,
        "error": step.error,
    }


def _step(row: sa.RowMapping) -> StepRecord:
    return StepRecord(
        run_id=row["run_id"],
        name=row["name"],
        position=row["position"],
        code_digest=row["code_digest"],
        fan_out=bool(row["fan_out"]),
        status=StepStatus(row["status"]),
        items=row["items"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=row["error"],
    )


def _item_row(item: ItemRecord) -> dict[str, Any]:
    output = item.output
    return {
        "run_id": item.run_id,
        "step": item.step,
        "item": item.index,
        "key": item.key,
        "status": item.status.value,
        "attempts": item.attempts,
        "cache_key": item.cache_key,
        "started_at": item.started_at,
        "finished_at": item.finished_at,
        "output_digest": output.digest if output else None,
        "output_size": output.size if output else None,
        "output_format": output.format if output else None,
        "output_inline": output.inline if output else None,
        "metrics": dict(item.metrics),
        "logs": item.logs,
        "error": item.error,
        "registered": list(item.registered),
        "reused_from": item.reused_from,
    }


def _item(row: sa.RowMapping) -> ItemRecord:
    output = None
    if row["output_digest"] is not None:
        inline = row["output_inline"]
        output = ValueRef(
            row["output_digest"],
            row["output_size"],
            row["output_format"],
            bytes(inline) if inline is not None else None,
        )
    return ItemRecord(
        run_id=row["run_id"],
        step=row["step"],
        index=row["item"],
        key=row["key"],
        status=ItemStatus(row["status"]),
        attempts=row["attempts"],
        cache_key=row["cache_key"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        output=output,
        metrics=row["metrics"],
        logs=row["logs"],
        error=row["error"],
        registered=tuple(row["registered"]),
        reused_from=row["reused_from"],
    )


def _snapshot_row(snapshot: SnapshotRecord) -> dict[str, Any]:
    return {
        "run_id": snapshot.run_id,
        "step": snapshot.step,
        "item": snapshot.index,
        "name": snapshot.name,
        "kind": snapshot.kind.value,
        "digest": snapshot.digest,
        "size": snapshot.size,
        "created_at": snapshot.created_at,
    }


def _snapshot(row: sa.RowMapping) -> SnapshotRecord:
    return SnapshotRecord(
        run_id=row["run_id"],
        step=row["step"],
        index=row["item"],
        name=row["name"],
        kind=SnapshotKind(row["kind"]),
        digest=row["digest"],
        size=row["size"],
        created_at=row["created_at"],
    )
