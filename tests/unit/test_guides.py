"""Guides without Telegram, on SQLite and PostgreSQL: going through the steps, a stale step, one open run per
tenant and guide, "I'm stuck" counted once and carried by the help desk booking, a question answered once and
only by the space's staff, "did it work?" on one's own finished run, the funnel with small groups hidden, and
forgetting after twelve months."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.config import Retention
from bot.i18n import translator
from handlers.privacy import copy_as_text
from storage.db import core_in_session
from storage.domain import bookings, guides, privacy, users
from storage.domain.guides import GuideRefused, Refusal, Result, Stuck
from storage.models import GuidePrompt, GuideQuestion, GuideRun, GuideStuck
from storage.domain.stats import Period
from storage.domain.users import Roles
from tests.scan import traces_of

ROME = ZoneInfo("Europe/Rome")
MONDAY = datetime(2027, 3, 1, 8, 0, tzinfo=ROME)
TENANT, OTHER, OPERATOR = 1001, 1002, 2001


@pytest.fixture(autouse=True)
def monday(clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(MONDAY)


@pytest.fixture
async def people(db, clock) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        for user_id in (TENANT, OTHER, OPERATOR, *range(3000, 3007)):
            await users.touch_user(session, user_id, f"Persona {user_id}", "it", clock.now())


async def test_a_tenant_goes_forward_and_back_and_finishes(db, clock, people, sample_content):
    pagopa = sample_content.guides["pagopa"]
    now = clock.now()
    async with db.write() as session:
        assert (await guides.start(session, TENANT, pagopa, "ar", now)).step == 1
        assert (await guides.back(session, TENANT, pagopa, 1, "ar", now)).result is Result.INTRO
        for step in range(1, 5):
            outcome = await guides.advance(session, TENANT, pagopa, step, "ar", now)
            assert (outcome.result, outcome.step) == (Result.SHOWN, step + 1)
        back = await guides.back(session, TENANT, pagopa, 5, "ar", now)
        assert (back.result, back.step, back.run.furthest_step) == (Result.SHOWN, 4, 5)
        finished = await guides.advance(session, TENANT, pagopa, 5, "ar", now)
        assert finished.result is Result.FINISHED and finished.run.finished_at == now
        again = await guides.start(session, TENANT, pagopa, "ar", now)  # a finished guide starts a new run
        assert again.run.id != finished.run.id
        assert await session.scalar(select(func.count()).select_from(GuideRun)) == 2


async def test_a_step_the_guide_no_longer_has_brings_back_the_first_step(db, clock, people, sample_content):
    pagopa = sample_content.guides["pagopa"]
    shorter = replace(pagopa, steps=pagopa.steps[:3])
    async with db.write() as session:
        await guides.start(session, TENANT, pagopa, "it", clock.now())
        for step in range(1, 5):
            await guides.advance(session, TENANT, pagopa, step, "it", clock.now())
        stale = await guides.advance(session, TENANT, shorter, 5, "it", clock.now())
        assert (stale.result, stale.step, stale.run.step) == (Result.STALE, 1, 1)
        assert (await guides.resume(session, TENANT, shorter, "it", clock.now())).step == 1
        assert (await guides.show_step(session, TENANT, shorter, 0, "it", clock.now())).result is Result.STALE


async def test_the_stuck_step_travels_with_the_help_desk_booking(db, clock, people, sample_content):
    pagopa = sample_content.guides["pagopa"]
    desk = sample_content.services["omero-digital-desk"]
    space = sample_content.spaces["omero"]
    async with db.write() as session:
        await guides.start(session, TENANT, pagopa, "ar", clock.now())
        stuck = await guides.stuck(session, TENANT, pagopa, 3, "ar", clock.now(), sample_content, "omero-mompiani")
        assert isinstance(stuck, Stuck) and [service.id for service in stuck.desks] == ["omero-digital-desk"]
        await guides.stuck(session, TENANT, pagopa, 3, "ar", clock.now(), sample_content, None)  # counted once
        assert await guides.choose_desk(session, TENANT, pagopa, 3, desk, clock.now())
        booking = await core_in_session(session, lambda connection: bookings.book_on(
            connection, service=desk, space=space, start=datetime(2027, 3, 2, 10, 0, tzinfo=ROME), user_id=TENANT,
            chat_id=TENANT, name="Amal", phone=None, language="ar", now=clock.now(), tz=ROME))
        assert await session.scalar(select(func.count()).select_from(GuideStuck)) == 1
        notes = await guides.notes_for_bookings(session, [booking.id])
    assert notes == {booking.id: guides.DeskNote("pagopa", 3)}
    every_desk = guides.help_desks(sample_content, None)
    assert len(every_desk) > 1 and all(service.category == "digital" and service.booking for service in every_desk)


async def test_a_question_is_answered_once_and_only_by_the_spaces_staff(db, clock, people, sample_content):
    portal = sample_content.guides["mm-casa-portal"]
    operator = Roles(operator_of=frozenset({"omero"}))
    stranger = Roles(operator_of=frozenset({"zoia"}))
    async with db.write() as session:
        await guides.start(session, TENANT, portal, "zh", clock.now())
        assert await guides.ask_question(session, TENANT, portal, 2, clock.now(), sample_content, None) is None
        prompt = await guides.choose_question_space(session, TENANT, "omero", clock.now())
        await users.grant_role(session, OPERATOR, "operator", "omero", clock.now(), None)
        asked = await guides.submit_question(session, prompt, TENANT, "zh", "我没有租户编号", clock.now())
        assert [user.id for user in asked.operators] == [OPERATOR]
        with pytest.raises(GuideRefused) as refused:
            await guides.start_answer(session, OTHER, stranger, sample_content, asked.question.id, clock.now())
        assert refused.value.reason is Refusal.NOT_ALLOWED
        await guides.start_answer(session, OPERATOR, operator, sample_content, asked.question.id, clock.now())
        answered = await guides.submit_answer(session, OPERATOR, operator, sample_content, asked.question.id, "Vieni allo sportello", clock.now())
        assert (answered.answer, answered.answered_by) == ("Vieni allo sportello", OPERATOR)
        with pytest.raises(GuideRefused) as again:
            await guides.submit_answer(session, OPERATOR, operator, sample_content, asked.question.id, "Di nuovo", clock.now())
        assert again.value.reason is Refusal.ANSWERED


async def test_did_it_work_only_on_ones_own_finished_run(db, clock, people, sample_content):
    repair = sample_content.guides["maintenance-request"]
    async with db.write() as session:
        run = (await guides.start(session, TENANT, repair, "it", clock.now())).run
        with pytest.raises(GuideRefused):
            await guides.answer_worked(session, TENANT, run.id, "yes", clock.now())  # not finished yet
        for step in range(1, len(repair.steps) + 1):
            await guides.advance(session, TENANT, repair, step, "it", clock.now())
        with pytest.raises(GuideRefused):
            await guides.answer_worked(session, OTHER, run.id, "yes", clock.now())  # someone else's
        assert (await guides.answer_worked(session, TENANT, run.id, "no", clock.now())).worked == "no"
        # "No" offers the help desk for the last step: it is chosen on the finished run, no new run is opened.
        desk = sample_content.services["omero-digital-desk"]
        assert await guides.choose_desk(session, TENANT, repair, len(repair.steps), desk, clock.now())
        assert await session.scalar(select(func.count()).select_from(GuideRun)) == 1


async def test_the_funnel_hides_groups_under_five(db, clock, people, sample_content):
    pagopa = sample_content.guides["pagopa"]
    async with db.write() as session:
        for number, user_id in enumerate(range(3000, 3007)):  # 7 runs: 0..5 steps done
            await guides.start(session, user_id, pagopa, "it", clock.now())
            await guides.stuck(session, user_id, pagopa, 1, "it", clock.now(), sample_content, None)
            for step in range(1, 1 + min(number, 5)):
                await guides.advance(session, user_id, pagopa, step, "it", clock.now())
    async with db.read() as session:
        figures = await guides.figures(session, Period(MONDAY.date(), MONDAY.date()), sample_content, ROME)
    item = next(figure for figure in figures if figure.guide_id == "pagopa")
    assert item.started.value == 7 and item.finished.value is None and item.finished.too_few
    assert [figure.value for figure in item.reached] == [7, 6, 5, None, None]
    assert item.stuck[0].value == 7 and item.stuck[1].value == 0
    assert all(figure.started.value == 0 for figure in figures if figure.guide_id != "pagopa")


async def test_progress_and_questions_are_purged_by_the_privacy_rules_after_twelve_months(db, clock, people, sample_content,
                                                                                          tmp_path):
    pagopa = sample_content.guides["pagopa"]
    retention = Retention()
    async with db.write() as session:
        for user_id in (TENANT, OTHER, OPERATOR):  # people who never accepted the notice would go after a week
            await users.record_consent(session, user_id, clock.now())
        await guides.start(session, TENANT, pagopa, "it", clock.now())
        await guides.stuck(session, TENANT, pagopa, 1, "it", clock.now(), sample_content, None)
        session.add(GuideQuestion(user_id=TENANT, chat_id=TENANT, guide_id="pagopa", step=1, space_id="omero",
                                  language="it", text="?", asked_at=clock.now()))
        await guides.set_prompt(session, OPERATOR, "answer", clock.now(), question_id=1)
    clock.advance(timedelta(days=200))
    async with db.write() as session:
        await guides.start(session, OTHER, pagopa, "it", clock.now())
    due = await privacy.due_counts(db, retention, clock.now())
    assert (due["guide_runs"], due["guide_questions"], due["guide_prompts"]) == (0, 0, 1), "a stale prompt goes with the drafts"

    clock.advance(timedelta(days=166))
    done = await privacy.purge(db, retention, clock.now(), tmp_path, batch=1)
    assert (done["guide_runs"], done["guide_questions"]) == (1, 1)
    async with db.read() as session:
        assert list((await session.scalars(select(GuideRun.user_id))).all()) == [OTHER]
        assert await session.scalar(select(func.count()).select_from(GuideStuck)) == 0
        assert await session.scalar(select(func.count()).select_from(GuidePrompt)) == 0
    assert (await privacy.due_counts(db, Retention(guides_days=100), clock.now()))["guide_runs"] == 1, "configurable"


async def test_my_data_shows_runs_and_questions_and_forgetting_leaves_the_answer_without_the_operator(
        db, clock, people, sample_content, tmp_path):
    pagopa = sample_content.guides["pagopa"]
    operator = Roles(operator_of=frozenset({"omero"}))
    async with db.write() as session:
        await guides.start(session, TENANT, pagopa, "it", clock.now())
        await guides.stuck(session, TENANT, pagopa, 2, "it", clock.now(), sample_content, None)
        question = GuideQuestion(user_id=TENANT, chat_id=TENANT, guide_id="pagopa", step=2, space_id="omero",
                                 language="it", text="Dove trovo il codice?", asked_at=clock.now())
        session.add(question)
        await session.flush()
        await guides.submit_answer(session, OPERATOR, operator, sample_content, question.id, "Sul bollettino", clock.now())
    found = await privacy.collect(db, TENANT)
    assert found["guides"][0]["guide_id"] == "pagopa" and found["guides"][0]["stuck"][0]["step"] == 2
    assert (found["guide_questions"][0]["text"], found["guide_questions"][0]["answer"]) == ("Dove trovo il codice?", "Sul bollettino")
    assert "guides" not in await privacy.collect(db, OPERATOR)
    readable = copy_as_text(translator("it"), sample_content, TENANT, found, clock.now()).decode("utf-8")
    title = pagopa.title.get("it")
    assert f"🧭 Guide che hai seguito\n{'=' * 40}\n  Guida: {title}\n  Passo: 2" in readable
    assert "  Passi in cui eri bloccato:\n    Passo: 2" in readable
    assert "💬 Domande agli operatori delle guide" in readable and "  Risposta: Sul bollettino" in readable

    await privacy.forget(db, OPERATOR, clock.now(), tmp_path)
    async with db.read() as session:
        kept = (await session.scalars(select(GuideQuestion))).one()
        assert (kept.answer, kept.answered_by) == ("Sul bollettino", None)
    await privacy.forget(db, TENANT, clock.now(), tmp_path)
    assert await traces_of(db, TENANT, OPERATOR) == []


async def test_the_guides_csv_has_one_row_per_run_and_ids_only_when_asked(db, clock, people, sample_content):
    import csv
    import io

    from storage.domain import export
    from storage.domain.export import ExportRequest

    pagopa = sample_content.guides["pagopa"]
    async with db.write() as session:
        run = (await guides.start(session, TENANT, pagopa, "ar", clock.now())).run
        for step in range(1, 6):
            await guides.advance(session, TENANT, pagopa, step, "ar", clock.now())
        await guides.answer_worked(session, TENANT, run.id, "yes", clock.now())
        await guides.start(session, OTHER, sample_content.guides["spid-cie"], "it", clock.now())
    march = Period.month(2027, 3)
    for personal, extra in ((False, []), (True, ["ID Telegram"])):
        data, count = await export.csv_bytes(db, ExportRequest("guides", march, personal), sample_content, ROME)
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
        assert count == 2 and rows[0] == ["Guida", "Passi", "Lingua", "Iniziata il", "Arrivata al passo", "Finita il",
                                          "Ha funzionato", *extra]
        assert rows[1][:7] == ["Pagare una bolletta con pagoPA", "5", "ar", "01/03/2027", "5", "01/03/2027", "Sì"]
        assert (str(TENANT) in rows[1]) is personal
