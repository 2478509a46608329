"""Personal data without Telegram: every table with a person's id is covered by a source, forgetting leaves no
trace of the person (and keeps the maintenance record), the dry run changes nothing, and retention purges what is
due as the clock moves: drafts after 7 days, message texts 30 days after delivery, closed tickets' personal fields
and media and bookings after 12 months, the audit record after 12 months."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import BigInteger, func, select

from bot.config import Retention
from storage.domain import audit, bookings, feedback, outbox, privacy, tickets, users
from storage.models import (
    Base, Booking, BookingContact, Broadcast, BroadcastRecipient, DailyUsage, Feedback, FeedbackDraft, FeedbackPrompt,
    Follow, GuideQuestion, GuideRun, GuideStuck, InterestPhonePrompt, Invite, JobInterest, OutboxMessage, ReportDraft,
    RoleGrant, SlotCounter, Ticket, TicketEvent, TicketMedia, TicketSubscriber, TimeBankAccount,
    TimeBankContact, TimeBankExchange, TimeBankMessage, TimeBankPost, WaitlistEntry,
)
from storage.domain.tickets import Action, Actor
from storage.domain.users import Roles
from tests.scan import traces_of
from tests.unit.report_drafts import fill_draft

ESTATE = "omero-mompiani"
AMAL, NEIGHBOUR, CUSTODIAN = 770011223, 770044556, 770077889
PHONE = "+39 333 7654321"
SERVICE, SPACE = "omero-digital-desk", "omero"
# Columns that hold a Telegram message or update id, not a person's.
NOT_A_PERSON = {("outbox", "message_id"), ("inbox", "update_id")}


def _looks_like_a_person(table: str, column) -> bool:  # type: ignore[no-untyped-def]
    name = column.name
    if (table, name) in NOT_A_PERSON:
        return False
    if table == "users" and name == "id":
        return True
    return name in ("user_id", "chat_id") or name.endswith("_by") or (name.endswith("_id") and isinstance(column.type, BigInteger))


def test_every_column_with_a_persons_id_belongs_to_a_personal_data_source() -> None:
    covered = privacy.covered_columns()
    missing = [f"{table.name}.{column.name}" for table in Base.metadata.sorted_tables for column in table.columns
               if _looks_like_a_person(table.name, column) and (table.name, column.name) not in covered]
    assert not missing, (
        f"{missing}: register these columns in a PersonalDataSource (storage/personal_data/, see docs/architecture.md "
        "'Personal data'): what to export, what forgetting does, how long they are kept")


def test_declared_columns_exist() -> None:
    tables = Base.metadata.tables
    for source in privacy.sources():
        for declared in (source.person_columns, source.personal_fields):
            for table, columns in declared.items():
                assert table in tables, f"source {source.name}: no table {table}"
                assert set(columns) <= set(tables[table].columns.keys()), f"source {source.name}: {table} lacks {columns}"


def test_every_retention_rule_names_a_setting() -> None:
    for rule in privacy.retention_rules():
        assert hasattr(Retention(), rule.days_setting), rule.name


async def _person(db, clock, user_id: int, name: str) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        await users.touch_user(session, user_id, name, "it", clock.now())
        await users.record_consent(session, user_id, clock.now(), name)


def _media(media_dir: Path, name: str) -> dict:
    path = media_dir / "2027" / "03" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"jpeg")
    return {"kind": "photo", "file_id": f"file-{name}", "path": f"2027/03/{name}", "size": 4, "mime_type": "image/jpeg"}


async def _amal_everywhere(db, clock, content, media_dir: Path) -> dict:  # type: ignore[no-untyped-def]
    """Amal has used every feature: a ticket with a photo, a "me too" with a comment and a photo on a neighbour's,
    a booking to come with her phone, a waitlist entry, opinions, drafts, messages waiting for her."""
    now = clock.now()
    for user_id, name in ((AMAL, "Amal"), (NEIGHBOUR, "Giuseppe"), (CUSTODIAN, "Rosa")):
        await _person(db, clock, user_id, name)
    custodian = Actor(CUSTODIAN, Roles(custodian_of=frozenset({ESTATE})))
    async with db.write() as session:
        draft = await tickets.start_draft(session, NEIGHBOUR, now)
        fill_draft(draft, content, now, description="Perdita in cantina", area="common")  # "me too" is only for common areas
        tickets.photos_done(draft, content, now)
        neighbours = await tickets.open_ticket(session, draft, content, Roles(), now)
        draft = await tickets.start_draft(session, AMAL, now)
        fill_draft(draft, content, now, description=f"Acqua dal soffitto, chiamatemi al {PHONE}")
        tickets.add_photo(draft, content, _media(media_dir, "amal-1.jpg"), now)
        tickets.photos_done(draft, content, now)
        amals = await tickets.open_ticket(session, draft, content, Roles(), now)
        await tickets.add_note(session, amals.id, custodian, "Idraulico giovedì", now)
        await outbox.enqueue(session, chat_id=CUSTODIAN, method="sendMessage",
                             params={"text": f"Segnalata da Amal, {PHONE}"}, dedupe_key=f"alert:{amals.id}:{CUSTODIAN}",
                             now=now, kind="alert", ref=str(amals.id))
        (await tickets.start_draft(session, AMAL, now)).offered = [neighbours.id]  # suggested for her draft
        await tickets.me_too(session, neighbours.id, Actor(AMAL, Roles()), now)
        # Only a reporter comments (people who said "me too" see a public view): Amal adds to her own ticket.
        change, _photo = await tickets.add_comment(session, amals.id, Actor(AMAL, Roles()), now,
                                                   text="Anche da me, sono Amal", media=_media(media_dir, "amal-2.jpg"))
        for event_id, text, ticket in ((change.event.id, "Anche da me, sono Amal", amals),
                                       (change.event.id + 1000, "Giuseppe scrive", neighbours)):
            await outbox.enqueue(session, chat_id=CUSTODIAN, method="sendMessage", params={"text": text},
                                 dedupe_key=f"comment:{event_id}:{CUSTODIAN}", now=now, kind="comment", ref=str(ticket.id))
        await tickets.start_draft(session, AMAL, now)  # a new report, half written
        (await tickets.get_draft(session, AMAL)).photos = [_media(media_dir, "amal-3.jpg")]
        await outbox.enqueue(session, chat_id=AMAL, method="sendMessage", params={"text": "Ciao Amal"},
                             dedupe_key="notice:amal", now=now, kind="notice", ref=str(amals.id))
        start = now + timedelta(days=2)
        session.add(SlotCounter(service_id=SERVICE, slot_start=start, seats=2, taken=1))
        session.add(Booking(user_id=AMAL, chat_id=AMAL, service_id=SERVICE, space_id=SPACE, slot_start=start,
                            slot_end=start + timedelta(minutes=30), status="active", name="Amal", phone=PHONE,
                            language="ar", holds_quota=True, created_at=now))
        await bookings.save_phone(session, AMAL, PHONE, now)
        session.add(WaitlistEntry(user_id=AMAL, chat_id=AMAL, service_id=SERVICE, space_id=SPACE, slot_start=start + timedelta(days=1),
                                  slot_end=start + timedelta(days=1, minutes=30), name="Amal", language="ar", status="waiting",
                                  created_at=now))
        session.add(Feedback(id=feedback.new_id(), kind="rating", space_id=SPACE, service_id="", user_id=AMAL, stars=4,
                             comment="Brava Rosa", day=now.date()))
        session.add(Feedback(id=feedback.new_id(), kind="complaint", space_id=SPACE, service_id="", user_id=AMAL,
                             comment="Sono Amal del terzo piano", day=now.date()))
        session.add(FeedbackDraft(user_id=AMAL, kind="suggestion", space_id=SPACE, service_id="", comment="bozza",
                                  anonymous=False, step="text", updated_at=now))
        await audit.record(session, CUSTODIAN, "ticket_view", amals.code, now)
    return {"amals": amals.id, "neighbours": neighbours.id, "slot": start}


async def test_forgetting_leaves_no_trace_and_keeps_the_maintenance_record(db, clock, sample_content, tmp_path) -> None:  # type: ignore[no-untyped-def]
    media_dir = tmp_path / "media"
    made = await _amal_everywhere(db, clock, sample_content, media_dir)
    assert await traces_of(db, AMAL, PHONE)

    counts = await privacy.forget(db, AMAL, clock.now(), media_dir)

    assert await traces_of(db, AMAL, PHONE, "Amal") == []
    assert counts["bookings"] == 1 and counts["profile"] == 1 and counts["reports kept without personal data"] == 1
    assert not list(media_dir.rglob("*.jpg")), "her photos are deleted from disk"
    async with db.read() as session:
        kept = await session.get(Ticket, made["amals"])
        assert (kept.reporter_id, kept.description, kept.flat, kept.category_id) == (None, "", None, "water-leak")
        assert kept.last_note == "Idraulico giovedì"  # the custodian's note is the maintenance record
        assert await session.scalar(select(func.count()).select_from(TicketMedia)) == 0
        assert await session.get(Ticket, made["neighbours"]) is not None
        assert await session.scalar(select(func.count()).select_from(TicketSubscriber)) == 0
        seat = await session.get(SlotCounter, (SERVICE, made["slot"]))
        assert seat.taken == 0, "her seat went back to everyone"
        rating = (await session.scalars(select(Feedback))).one()
        assert (rating.kind, rating.stars, rating.user_id, rating.comment) == ("rating", 4, None, None)
        alert = (await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "alert"))).one()
        assert alert.params == {} and alert.status == "dropped"
        comments = {row.params.get("text"): row.status for row in
                    (await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "comment"))).all()}
        assert comments == {None: "dropped", "Giuseppe scrive": "pending"}, "only her comment is stopped"
        events = (await session.scalars(select(TicketEvent))).all()
        assert all(event.actor_id != AMAL for event in events)


async def test_the_dry_run_changes_nothing(db, clock, sample_content, tmp_path) -> None:  # type: ignore[no-untyped-def]
    media_dir = tmp_path / "media"
    await _amal_everywhere(db, clock, sample_content, media_dir)
    before = await traces_of(db, AMAL, PHONE)
    counts = await privacy.forget(db, AMAL, clock.now(), media_dir, dry_run=True)
    assert counts["bookings"] == 1 and counts["photos and voice notes"] == 2
    assert await traces_of(db, AMAL, PHONE) == before
    assert len(list(media_dir.rglob("*.jpg"))) == 3


async def test_my_data_lists_every_section(db, clock, sample_content, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await _amal_everywhere(db, clock, sample_content, tmp_path / "media")
    found = await privacy.collect(db, AMAL)
    assert {"profile", "bookings", "waitlist", "phone_numbers", "reports", "me_too", "ticket_history", "opinions",
            "drafts", "messages_to_send"} <= set(found)
    assert found["profile"][0]["first_name"] == "Amal"
    assert found["reports"][0]["media"][0]["kind"] == "photo"
    assert found["phone_numbers"][0]["phone"] == PHONE
    assert "audit" not in found  # she never read anyone's data


async def _amal_in_every_source(db, clock, content, media_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """_amal_everywhere, and what the other sources keep: roles and invites, her look at someone's data, guides,
    the neighbourhood's notices and follows, the time bank, daily counts; two records where a section may hold
    several, so a count cannot pass by being 1."""
    made = await _amal_everywhere(db, clock, content, media_dir)
    now = clock.now()
    async with db.write() as session:
        session.add(RoleGrant(user_id=AMAL, role="custodian", scope=ESTATE, granted_at=now))
        session.add(Invite(code="inv-by-amal", role="custodian", created_by=AMAL, created_at=now, expires_at=now))
        session.add(Invite(code="inv-for-amal", role="custodian", created_by=CUSTODIAN, created_at=now, expires_at=now,
                           used_by=AMAL, used_at=now))
        session.add(Invite(code="inv-other", role="custodian", created_by=CUSTODIAN, created_at=now, expires_at=now))
        await audit.record(session, AMAL, "ticket_view", "QC-1", now)
        for day in ("2027-03-01", "2027-03-02"):
            session.add(DailyUsage(user_id=AMAL, day=day, kind="photo", used=1))
        for guide in ("guide-a", "guide-b"):
            run = GuideRun(user_id=AMAL, guide_id=guide, language="it", step=1, furthest_step=1, started_at=now, updated_at=now)
            session.add(run)
            await session.flush()
            session.add(GuideStuck(run_id=run.id, user_id=AMAL, guide_id=guide, step=1, created_at=now))
        session.add(GuideQuestion(user_id=AMAL, chat_id=AMAL, guide_id="guide-a", step=1, space_id=SPACE, language="it",
                                  text="Come faccio?", asked_at=now))
        session.add(InterestPhonePrompt(user_id=AMAL, job_id="job-1", created_at=now))
        for topic in ("space:omero", "kind:course"):
            session.add(Follow(user_id=AMAL, topic=topic, created_at=now))
        session.add(JobInterest(user_id=AMAL, job_id="job-1", name="Amal", created_at=now))
        notice = Broadcast(kind="notice", author_id=AMAL, created_at=now)
        session.add(notice)
        await session.flush()
        for user_id in (AMAL, NEIGHBOUR):
            session.add(BroadcastRecipient(broadcast_id=notice.id, user_id=user_id, language="it", not_before=now))
        session.add(FeedbackPrompt(user_id=AMAL, kind="booking", ref=1, due_at=now, status="pending"))
        session.add(FeedbackPrompt(user_id=AMAL, kind="booking", ref=2, due_at=now, status="asked"))  # not shown
        for user_id in (AMAL, NEIGHBOUR):
            session.add(TimeBankAccount(user_id=user_id, space_id=SPACE, status="active", created_at=now))
        for poster, asker in ((AMAL, NEIGHBOUR), (NEIGHBOUR, AMAL)):  # each gives the other an hour
            post = TimeBankPost(space_id=SPACE, user_id=poster, kind="offer", category="c", text="Aiuto coi compiti",
                                status="open", created_at=now, expires_at=now)
            session.add(post)
            await session.flush()
            contact = TimeBankContact(space_id=SPACE, post_id=post.id, asker_id=asker, poster_id=poster,
                                      status="accepted", created_at=now)
            session.add(contact)
            await session.flush()
            for sender in (AMAL, asker):
                session.add(TimeBankMessage(contact_id=contact.id, sender_id=sender, text="ciao", created_at=now))
            session.add(TimeBankExchange(space_id=SPACE, contact_id=contact.id, post_id=post.id, category="c",
                                         giver_id=poster, receiver_id=asker, status="agreed", created_at=now))
    assert made


async def test_the_my_data_screens_numbers_are_the_lengths_of_the_copys_sections(db, clock, sample_content, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await _amal_in_every_source(db, clock, sample_content, tmp_path / "media")
    found = await privacy.collect(db, AMAL)
    counted = {section for source in privacy.sources() if source.counts is not None
               for section in source.counts(AMAL)}  # type: ignore[arg-type]
    assert counted <= set(found), f"{counted - set(found)}: give Amal a record of these in _amal_in_every_source"
    assert list((await privacy.count_sections(db, AMAL)).items()) == [(section, len(records)) for section, records in found.items()]
    # Someone with less: the sections left out are the same.
    neighbours = await privacy.collect(db, NEIGHBOUR)
    assert list((await privacy.count_sections(db, NEIGHBOUR)).items()) == [(section, len(records)) for section, records in neighbours.items()]
    assert await privacy.count_sections(db, 1) == {} == await privacy.collect(db, 1)


async def test_forgetting_someone_in_every_source_removes_what_it_always_did(db, clock, sample_content, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Forgetting runs every source's prebuilt Core statements on one connection; what it removes, strips and counts
    is pinned to what the ORM version did for the same person (the same counts, the same rows left behind)."""
    await _amal_in_every_source(db, clock, sample_content, tmp_path / "media")
    assert await privacy.forget(db, AMAL, clock.now(), tmp_path / "media", dry_run=True) == FORGOTTEN
    counts = await privacy.forget(db, AMAL, clock.now(), tmp_path / "media")
    assert counts == FORGOTTEN
    # Her look at someone's data stays until its retention ends, as proof (storage/personal_data/audit.py).
    assert list(await privacy.collect(db, AMAL)) == ["audit"] and await privacy.count_sections(db, AMAL) == {"audit": 1}
    assert await traces_of(db, AMAL, PHONE, "Amal") == [f"audit_records.actor_id = {AMAL}"]
    left = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            left[table.name] = await session.scalar(select(func.count()).select_from(table))
    assert {table: rows for table, rows in left.items() if rows} == {
        "audit_records": 2, "feedback": 1, "invites": 3, "outbox": 3, "slot_counters": 1, "tb_accounts": 2, "tb_posts": 1,
        "tenant_homes": 1, "ticket_counters": 1, "ticket_events": 5, "tickets": 2, "users": 2}
    async with db.read() as session:
        emptied = {(row.kind, row.status) for row in (await session.scalars(select(OutboxMessage))).all() if row.params == {}}
        accounts = {row.status for row in (await session.scalars(select(TimeBankAccount))).all()}
    assert emptied == {("alert", "dropped"), ("comment", "dropped")}, "the messages quoting her, stopped and emptied"
    assert accounts == {"forgotten", "active"}, "her account stays, as nobody's: the ledger adds up"


FORGOTTEN = {
    "audit records kept until their retention ends": 1, "bookings": 1, "drafts": 2, "follows": 2, "guide questions": 1,
    "guides": 2, "home": 1, "job interests": 1, "me too": 1, "messages": 1, "notices not sent": 1,
    "notices received": 1, "opinions": 2, "phone numbers": 1, "photos and voice notes": 2, "profile": 1,
    "reports kept without personal data": 1, "roles": 1, "time bank conversations": 2, "time bank exchanges": 2,
    "time bank memberships": 1, "time bank posts": 1, "waitlist": 1,
}


def test_a_source_with_an_export_counts_its_sections() -> None:
    with pytest.raises(ValueError, match="counts"):
        privacy.register(privacy.PersonalDataSource(name="test_exports_without_counts", person_columns={},
                                                    forget=_forget_nothing, export=_export_nothing))


def _forget_nothing(connection, forgetting) -> None:  # type: ignore[no-untyped-def]
    return None


async def _export_nothing(session, user_id) -> dict:  # type: ignore[no-untyped-def]
    return {}


async def test_retention_purges_what_is_due_as_time_passes(db, clock, sample_content, tmp_path) -> None:  # type: ignore[no-untyped-def]
    media_dir = tmp_path / "media"
    retention = Retention()
    made = await _amal_everywhere(db, clock, sample_content, media_dir)
    async with db.write() as session:  # the custodian fixes the neighbour's leak; the alert was delivered
        custodian = Actor(CUSTODIAN, Roles(custodian_of=frozenset({ESTATE})))
        await tickets.change_status(session, made["neighbours"], Action.RESOLVE, custodian, clock.now())
        await session.execute(OutboxMessage.__table__.update().values(status="sent", sent_at=clock.now())
                              .where(OutboxMessage.chat_id == CUSTODIAN))
    assert {rule: n for rule, n in (await privacy.due_counts(db, retention, clock.now())).items() if n} == {}

    clock.advance(timedelta(days=8))
    due = await privacy.due_counts(db, retention, clock.now())
    assert due["report_drafts"] == 1 and due["feedback_drafts"] == 1 and due["outbox_texts"] == 0
    done = await privacy.purge(db, retention, clock.now(), media_dir, batch=1)
    assert done["report_drafts"] == 1 and done["feedback_drafts"] == 1
    assert not (media_dir / "2027/03/amal-3.jpg").exists(), "the dropped draft's photo is gone"
    async with db.read() as session:
        assert await session.get(ReportDraft, AMAL) is None

    clock.advance(timedelta(days=30))
    assert (await privacy.purge(db, retention, clock.now(), media_dir))["outbox_texts"] == 3
    async with db.read() as session:
        alert = (await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "alert"))).one()
        assert alert.params == {} and alert.text_purged_at is not None

    async with db.write() as session:  # 14 days after "resolved" the ticket closes by itself
        await tickets.close_expired(session, clock.now())
    clock.advance(timedelta(days=366))
    due = await privacy.due_counts(db, retention, clock.now())
    assert due["closed_tickets"] == 1 and due["bookings"] == 1 and due["audit"] == 1 and due["opinions_unlinked"] == 2
    done = await privacy.purge(db, retention, clock.now(), media_dir, batch=1)
    assert done["closed_tickets"] == 1 and done["bookings"] == 1 and done["waitlist"] == 1 and done["audit"] == 1
    assert (media_dir / "2027/03/amal-2.jpg").exists(), "her ticket is still open: its photos stay"
    async with db.read() as session:
        closed = await session.get(Ticket, made["neighbours"])
        assert (closed.reporter_id, closed.description, closed.flat) == (None, "", None)
        still_open = await session.get(Ticket, made["amals"])
        assert still_open.reporter_id == AMAL, "an open ticket keeps its reporter"
        assert await session.scalar(select(func.count()).select_from(Booking)) == 0
        assert await session.scalar(select(func.count()).select_from(BookingContact)) == 0
    assert {rule: n for rule, n in (await privacy.due_counts(db, retention, clock.now())).items() if n} == {}


@pytest.mark.parametrize("days", [1, 7])
async def test_shorter_retention_from_configuration(db, clock, sample_content, tmp_path, days) -> None:  # type: ignore[no-untyped-def]
    await _amal_everywhere(db, clock, sample_content, tmp_path / "media")
    clock.advance(timedelta(days=2))
    due = await privacy.due_counts(db, Retention(drafts_days=days), clock.now())
    assert due["report_drafts"] == (1 if days == 1 else 0)


async def test_before_the_notice_only_the_id_and_language_are_kept(db, clock) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        user = await users.touch_user(session, AMAL, "Amal", "ar", clock.now())
        assert (user.first_name, user.telegram_language, user.consent_at) == ("", "ar", None)
        assert not users.needs_touch(user, "Amal", "ar", clock.now()), "a name alone is no reason to write"
        await users.record_consent(session, AMAL, clock.now(), "Amal")
    async with db.read() as session:
        assert (await users.touch_user(session, AMAL, "Amal", "ar", clock.now())).first_name == "Amal"


async def test_people_who_never_accepted_the_notice_are_forgotten_after_the_drafts_period(db, clock) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        await users.touch_user(session, AMAL, "Amal", "ar", clock.now())
        await users.touch_user(session, NEIGHBOUR, "Giuseppe", "it", clock.now())
        await users.record_consent(session, NEIGHBOUR, clock.now(), "Giuseppe")
    clock.advance(timedelta(days=8))
    assert (await privacy.purge(db, Retention(), clock.now(), Path("/nonexistent")))["never_accepted_users"] == 1
    assert await traces_of(db, AMAL) == [] and await traces_of(db, NEIGHBOUR)


def test_the_notice_names_the_controller_and_quotes_the_configured_retention(sample_content) -> None:  # type: ignore[no-untyped-def]
    from bot.i18n import translator
    from handlers.privacy import render_notice

    screen = render_notice(translator("it"), sample_content.contacts, Retention(drafts_days=3, tickets_days=400, guides_days=90),
                           consented=False)
    assert sample_content.contacts.privacy.controller in screen.text and sample_content.contacts.privacy.dpo_email in screen.text
    assert "Bozze: 3 giorni" in screen.text and "400 giorni dopo la chiusura" in screen.text and "Garante" in screen.text
    assert "Guide seguite e domande agli operatori: 90 giorni" in screen.text
    every_period_distinct = Retention(**{name: 1000 + i for i, name in enumerate(Retention.__dataclass_fields__)})
    quoted = render_notice(translator("it"), sample_content.contacts, every_period_distinct, consented=True).text
    assert [name for name, days in vars(every_period_distinct).items() if str(days) not in quoted] == []
    arabic = render_notice(translator("ar"), sample_content.contacts, Retention(), consented=True)
    assert "Garante" in arabic.text and "الخصوصية" in arabic.text


async def test_forgetting_a_member_of_staff_keeps_only_the_audit_record(db, clock, sample_content, tmp_path) -> None:  # type: ignore[no-untyped-def]
    made = await _amal_everywhere(db, clock, sample_content, tmp_path / "media")
    async with db.write() as session:
        await users.grant_role(session, CUSTODIAN, "custodian", ESTATE, clock.now(), None)
        await users.grant_role(session, NEIGHBOUR, "committee", ESTATE, clock.now(), CUSTODIAN)
    counts = await privacy.forget(db, CUSTODIAN, clock.now(), tmp_path / "media")
    assert counts["audit records kept until their retention ends"] == 1
    assert await traces_of(db, CUSTODIAN) == [f"audit_records.actor_id = {CUSTODIAN}"]
    async with db.read() as session:
        assert (await session.get(Ticket, made["amals"])).last_note == "Idraulico giovedì", "what staff did stays"
