"""The audit record. A forgotten member of staff's records are kept until their retention ends: they are the proof
of who read whose data (GDPR art. 5(2) and 17(3)(e)), which forgetting must not erase."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, bindparam, func, select

from storage.models import AuditRecord
from storage.personal_data._helpers import how_many, listed, record, rows_older_than, theirs_listed
from storage.domain.privacy import Forgetting, PersonalDataSource, register


_DONE = theirs_listed(AuditRecord.actor_id, order=AuditRecord.__table__.c.at)


def _export(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    done = listed(connection, _DONE, user_id)
    return {"audit": [record(item, "at", "action", "subject") for item in done]}


def _counts(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {"audit": how_many(AuditRecord, AuditRecord.actor_id == user_id)}


_KEPT = select(func.count()).select_from(AuditRecord.__table__).where(AuditRecord.__table__.c.actor_id == bindparam("person"))


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    kept = connection.execute(_KEPT, {"person": forgetting.user_id}).scalar() or 0
    forgetting.count("audit records kept until their retention ends", kept)


register(PersonalDataSource(
    name="audit",
    person_columns={"audit_records": ("actor_id",)},
    export=_export,
    counts=_counts,
    forget=_forget,
    retention=(rows_older_than("audit", "audit_days", AuditRecord.id, AuditRecord.at),),
))
