"""The staff tools menu. Each feature adds its tool here with the roles that may see it; the action itself
checks permissions again on the server, since a button can be forged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from telegram import Update

from bot import callbacks
from bot.callbacks import Action
from bot.i18n import N_
from bot.runtime import FrontDeskContext, Visitor
from bot.ui import Screen, button, menu_row, show
from storage.domain.users import Roles


@dataclass(frozen=True)
class StaffTool:
    label: str  # marked with N_, translated when shown
    action: Action
    allowed: Callable[[Roles], bool]
    args: tuple = ()


STAFF_TOOLS: list[StaffTool] = [
    StaffTool(N_("✉️ Invita una persona"), callbacks.INVITE_ROLE, lambda r: r.can_edit_content, ("start",)),
    StaffTool(N_("👥 Ruoli assegnati"), callbacks.ROLES_LIST, lambda r: r.is_admin, (0,)),
    StaffTool(N_("📋 Agenda delle prenotazioni"), callbacks.AGENDA,
              lambda r: r.keeps_bookings, (0, 0)),
    StaffTool(N_("🛠 Segnalazioni aperte"), callbacks.TICKETS_OPEN, lambda r: r.handles_tickets, (0,)),
    StaffTool(N_("📝 Segnala per conto di un inquilino"), callbacks.REPORT_ON_BEHALF, lambda r: r.handles_tickets),
    StaffTool(N_("📊 Statistiche"), callbacks.STATS,
              lambda r: r.is_admin or r.is_editor or bool(r.custodian_of or r.committee_of)),
    StaffTool(N_("🔍 Registro degli accessi ai dati"), callbacks.AUDIT_LIST, lambda r: r.is_admin, (0,)),
    StaffTool(N_("📢 Scrivi un avviso"), callbacks.NOTICE_NEW,
              lambda r: r.is_admin or r.is_editor or bool(r.custodian_of or r.operator_of or r.committee_of)),
]


def render_staff(v: Visitor) -> Screen:
    tr = v.tr
    rows = [[button(tr._(tool.label), tool.action, *tool.args)] for tool in STAFF_TOOLS if tool.allowed(v.roles)]
    rows.append(menu_row(tr))
    text = tr._("<b>Strumenti per lo staff.</b>") if len(rows) > 1 else tr._("Non hai strumenti per lo staff.")
    return Screen(text, rows)


async def staff_menu(update: Update, context: FrontDeskContext) -> None:
    if update.callback_query:
        await update.callback_query.answer()
    await show(update, render_staff(await context.open()))
