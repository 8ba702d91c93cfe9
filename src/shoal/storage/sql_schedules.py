"""``SqlScheduleStore``: schedules and their claimed fire times in SQLite or PostgreSQL.

A claim is an INSERT into ``schedule_fires``, whose primary key is (schedule_id, fire_at): of
two schedulers claiming the same fire time, the database lets exactly one insert succeed, on
PostgreSQL by the unique index and on SQLite by the write lock taken as the transaction
begins. The loser sees the integrity error and starts nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from shoal.registry.records import Page, PageRequest
from shoal.scheduling.records import (
    Fire,
    FireStatus,
    MissedRuns,
    Schedule,
    ScheduleDraft,
    ScheduleState,
)
from shoal.scheduling.store import fire_missing, schedule_exists, schedule_missing
from shoal.storage import registry_rules as rules
from shoal.storage.sql_jobs import cursor_after
from shoal.storage.sql_store import SqlStore
from shoal.storage.tables import schedule_fires, schedules

_FIRE_COLUMNS = (*schedule_fires.c, schedules.c.name.label("schedule"))
_FIRES = schedule_fires.join(schedules, schedule_fires.c.schedule_id == schedules.c.id)


class SqlScheduleStore(SqlStore):
    """A ``ScheduleStore`` over a migrated database."""

    def add_schedule(self, draft: ScheduleDraft, actor: str, at: datetime) -> Schedule:
        at = rules.as_utc(at)
        values = {
            "name": draft.name,
            "pipeline": draft.pipeline,
            "cron": draft.cron,
            "timezone": draft.timezone,
            "parameters": dict(draft.parameters),
            "missed": MissedRuns(draft.missed).value,
            "state": ScheduleState.ACTIVE.value,
            "active_since": at,
            "created_at": at,
            "created_by": actor,
            "updated_at": at,
            "updated_by": actor,
        }
        with self._write() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(schedules), values)
            except IntegrityError as exc:
                raise schedule_exists(draft.name) from exc
            return _schedule(self._row(conn, draft.name))

    def find_schedule(self, name: str) -> Schedule | None:
        with self._read() as conn:
            row = conn.execute(sa.select(schedules).where(schedules.c.name == name)).first()
        return None if row is None else _schedule(row)

    def list_schedules(self, page: PageRequest) -> Page[Schedule]:
        after = rules.page_key(page, str)
        select = sa.select(schedules).order_by(schedules.c.name).limit(page.limit + 1)
        if after is not None:
            select = select.where(schedules.c.name > after[0])
        with self._read() as conn:
            found = [_schedule(row) for row in conn.execute(select)]
        return rules.page_of(found, page.limit, lambda schedule: (schedule.name,))

    def set_state(self, name: str, state: ScheduleState, actor: str, at: datetime) -> Schedule:
        at = rules.as_utc(at)
        state = ScheduleState(state)
        values: dict[str, object] = {"state": state.value, "updated_at": at, "updated_by": actor}
        if state is ScheduleState.ACTIVE:
            values["active_since"] = at
        with self._write() as conn:
            conn.execute(
                sa.update(schedules)
                .where(schedules.c.name == name, schedules.c.state != state.value)
                .values(**values)
            )
            return _schedule(self._row(conn, name))

    def remove_schedule(self, name: str) -> Schedule:
        with self._write() as conn:
            row = self._row(conn, name)
            conn.execute(sa.delete(schedule_fires).where(schedule_fires.c.schedule_id == row.id))
            conn.execute(sa.delete(schedules).where(schedules.c.id == row.id))
        return _schedule(row)

    def last_fire_at(self, name: str) -> datetime | None:
        select = sa.select(sa.func.max(schedule_fires.c.fire_at)).select_from(_FIRES)
        with self._read() as conn:
            latest = conn.execute(select.where(schedules.c.name == name)).scalar()
        # An aggregate loses the column's type on SQLite: tag it with the zone it is stored in.
        return None if latest is None else _utc(latest)

    def claim(
        self, name: str, fire_at: datetime, status: FireStatus, scheduler: str, at: datetime
    ) -> bool:
        values = {
            "fire_at": rules.as_utc(fire_at, "fire_at"),
            "status": FireStatus(status).value,
            "claimed_by": scheduler,
            "claimed_at": rules.as_utc(at),
        }
        with self._write() as conn:
            schedule_id = self._row(conn, name).id
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(schedule_fires), {"schedule_id": schedule_id, **values})
            except IntegrityError:
                return False
        return True

    def finish_fire(
        self,
        name: str,
        fire_at: datetime,
        status: FireStatus,
        at: datetime,
        run_id: str | None,
        exit_code: int | None,
        detail: str | None,
    ) -> Fire:
        fire_at = rules.as_utc(fire_at, "fire_at")
        with self._write() as conn:
            schedule_id = self._row(conn, name).id
            key = (schedule_fires.c.schedule_id == schedule_id, schedule_fires.c.fire_at == fire_at)
            conn.execute(
                sa.update(schedule_fires)
                .where(*key)
                .values(
                    status=FireStatus(status).value,
                    finished_at=rules.as_utc(at),
                    run_id=run_id,
                    exit_code=exit_code,
                    detail=detail,
                )
            )
            row = conn.execute(sa.select(*_FIRE_COLUMNS).select_from(_FIRES).where(*key)).first()
            if row is None:
                raise fire_missing(name, fire_at)
        return _fire(row)

    def list_fires(self, name: str | None, page: PageRequest) -> Page[Fire]:
        after = rules.page_key(page, str, str)
        select = (
            sa.select(*_FIRE_COLUMNS)
            .select_from(_FIRES)
            .order_by(schedule_fires.c.fire_at.desc(), schedules.c.name.desc())
            .limit(page.limit + 1)
        )
        if after is not None:
            at, schedule = cursor_after(after)
            select = select.where(
                sa.or_(
                    schedule_fires.c.fire_at < at,
                    sa.and_(schedule_fires.c.fire_at == at, schedules.c.name < schedule),
                )
            )
        with self._read() as conn:
            if name is not None:
                self._row(conn, name)
                select = select.where(schedules.c.name == name)
            found = [_fire(row) for row in conn.execute(select)]
        return rules.page_of(found, page.limit, lambda f: (f.fire_at.isoformat(), f.schedule))

    def _row(self, conn: Connection, name: str) -> Any:
        row = conn.execute(sa.select(schedules).where(schedules.c.name == name)).first()
        if row is None:
            raise schedule_missing(name)
        return row


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return rules.as_utc(value) if value.tzinfo else value.replace(tzinfo=UTC)


def _schedule(row: Any) -> Schedule:
    return Schedule(
        name=row.name,
        pipeline=row.pipeline,
        cron=row.cron,
        timezone=row.timezone,
        parameters=dict(row.parameters),
        missed=MissedRuns(row.missed),
        state=ScheduleState(row.state),
        active_since=row.active_since,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _fire(row: Any) -> Fire:
    return Fire(
        schedule=row.schedule,
        fire_at=row.fire_at,
        status=FireStatus(row.status),
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        finished_at=row.finished_at,
        run_id=row.run_id,
        exit_code=row.exit_code,
        detail=row.detail,
    )
