"""Roles and content: invites (make, redeem), the list of roles with revoke, /reload of the content files."""

from __future__ import annotations

import logging
import math

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from bot import callbacks
from bot.i18n import N_
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import Screen, back_row, button, clip, menu_row, pager_row, show
from handlers.common import chat_translator, message_params
from storage.domain import outbox, users

log = logging.getLogger(__name__)
ROLE_LABELS = {
    "custodian": N_("Custode"),
    "committee": N_("Comitato inquilini"),
    "operator": N_("Operatore di uno spazio"),
    "editor": N_("Redazione contenuti"),
    "admin": N_("Amministratore"),
}
ROLES_PER_PAGE = 8


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start=inv_{code}"


def scope_name(v: Visitor, content, role: str, scope: str) -> str:  # type: ignore[no-untyped-def]
    if role in users.ESTATE_ROLES and scope in content.estates:
        return content.estates[scope].name
    if role in users.SPACE_ROLES and scope in content.spaces:
        return content.spaces[scope].name.get(v.language)
    return scope


def render_pick_role(v: Visitor) -> Screen:
    tr = v.tr
    rows = [[button(tr._(label), callbacks.INVITE_ROLE, role)] for role, label in ROLE_LABELS.items() if v.roles.can_invite(role)]
    rows.append(back_row(tr, callbacks.STAFF))
    return Screen(tr._("Che ruolo avrà la persona che inviti?"), rows)


def render_pick_scope(v: Visitor, content, role: str) -> Screen:  # type: ignore[no-untyped-def]
    tr = v.tr
    if role in users.ESTATE_ROLES:
        choices = [(estate.id, estate.name) for estate in content.estates.values()]
        question = tr._("Per quale caseggiato?")
    else:
        choices = [(space.id, space.name.get(v.language)) for space in content.spaces.values()]
        question = tr._("Per quale spazio?")
    rows = [[button(name, callbacks.INVITE_SCOPE, role, scope_id)] for scope_id, name in choices]
    rows.append(back_row(tr, callbacks.INVITE_ROLE, "start"))
    return Screen(question, rows)


def render_invite(v: Visitor, link: str, code: str, role: str, scope_label: str, expires) -> Screen:  # type: ignore[no-untyped-def]
    tr = v.tr
    lines = [
        tr._("Invito pronto: <b>{role}</b>", role=tr._(ROLE_LABELS[role])) + (f" · {tr.isolate(scope_label)}" if scope_label else ""),
        tr._("Manda questo link alla persona. Vale una sola volta, fino al {date}.", date=tr.datetime(expires)),
        link,
        tr._("Codice: <code>{code}</code>", code=code),
    ]
    return Screen("\n\n".join(lines), [back_row(tr, callbacks.STAFF)])


async def invite_role(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    rt = context.rt
    role = context.data.args[0] if update.callback_query else "start"
    if update.callback_query:
        await update.callback_query.answer()
    if not v.roles.can_edit_content:
        log.warning("user %s asked for invites without the role", v.user_id)
        await show(update, Screen(v.tr._("Solo la redazione e gli amministratori possono invitare."), [menu_row(v.tr)]))
        return
    if role == "start" or not v.roles.can_invite(role) or role not in ROLE_LABELS:
        await show(update, render_pick_role(v))
        return
    if role in users.ESTATE_ROLES or role in users.SPACE_ROLES:
        await show(update, render_pick_scope(v, rt.content, role))
        return
    await _make_invite(update, context, v, role, "")


async def invite_scope(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    rt = context.rt
    role, scope = context.data.args
    await update.callback_query.answer()
    valid_scope = (role in users.ESTATE_ROLES and scope in rt.content.estates) or (role in users.SPACE_ROLES and scope in rt.content.spaces)
    if not v.roles.can_invite(role) or not valid_scope:
        log.warning("user %s refused invite for %s/%s", v.user_id, role, scope)
        await show(update, render_pick_role(v) if v.roles.can_edit_content else Screen(v.tr._("Solo la redazione e gli amministratori possono invitare."), [menu_row(v.tr)]))
        return
    await _make_invite(update, context, v, role, scope)


async def _make_invite(update: Update, context: FrontDeskContext, v: Visitor, role: str, scope: str) -> None:
    rt = context.rt
    async with rt.db.write() as session:
        invite = await users.create_invite(session, role, scope, rt.clock.now(), v.user_id)
    link = invite_link(rt.bot_username or context.bot.username, invite.code)
    await show(update, render_invite(v, link, invite.code, role, scope_name(v, rt.content, role, scope), invite.expires_at))


INVITE_REFUSALS = {
    "unknown": N_("Questo invito non esiste. Controlla il link o chiedine uno nuovo."),
    "expired": N_("Questo invito è scaduto. Chiedine uno nuovo a chi te l'ha mandato."),
    "used": N_("Questo invito è già stato usato. Chiedine uno nuovo a chi te l'ha mandato."),
    "own": N_("Questo invito l'hai creato tu: mandalo alla persona che deve usarlo."),
}


async def redeem(update: Update, context: FrontDeskContext, v: Visitor, code: str) -> None:
    rt = context.rt
    async with rt.db.write() as session:
        await users.record_consent(session, v.user_id, rt.clock.now())  # staff accept the notice by joining
        result = await users.redeem_invite(session, code[:32], v.user_id, rt.clock.now())
        if result.ok:
            await _tell_admins(session, rt, v, result, code[:32])
    rt.forget_user(v.user_id)
    rt.wake_outbox()
    if not result.ok:
        log.warning("user %s: invite refused (%s)", v.user_id, result.reason)
        await show(update, Screen(v.tr._(INVITE_REFUSALS[result.reason]), [menu_row(v.tr)]))
        return
    label = scope_name(v, rt.content, result.role, result.scope)
    text = v.tr._("Benvenuto/a! Ora hai il ruolo <b>{role}</b>", role=v.tr._(ROLE_LABELS[result.role]))
    if label:
        text += f" · {v.tr.isolate(label)}"
    await show(update, Screen(text, [[button(v.tr._("🧰 Strumenti per lo staff"), callbacks.STAFF)], menu_row(v.tr)]))


async def _tell_admins(session: AsyncSession, rt: Runtime, v: Visitor, result: users.InviteResult, code: str) -> None:
    """Every admin who uses the bot hears of every role granted by an invite (in the same transaction), so a role
    nobody meant to give is noticed and revoked."""
    now = rt.clock.now()
    for admin_id in await users.reachable_admins(session, rt.settings.admin_ids):
        if admin_id == v.user_id:
            continue
        tr = await chat_translator(session, rt, admin_id)
        text = tr._("🔑 {name} (id {id}) ha usato un invito: ora ha il ruolo <b>{role}</b>", name=v.first_name or "—",
                    id=v.user_id, role=tr._(ROLE_LABELS[result.role]))
        scope = scope_name(v, rt.content, result.role, result.scope)
        if scope:
            text += f" · {tr.isolate(scope)}"
        if result.created_by is not None:
            text += "\n" + tr._("Invito creato da id {id}.", id=result.created_by)
        screen = Screen(text, [[button(tr._("👥 Ruoli"), callbacks.ROLES_LIST, 0)]])
        await outbox.enqueue(session, chat_id=admin_id, method="sendMessage", params=message_params(screen),
                             dedupe_key=f"invite-used:{code}:{admin_id}", now=now, kind="invite_used", ref=code)


def render_roles(v: Visitor, content, grants, page: int) -> Screen:  # type: ignore[no-untyped-def]
    tr = v.tr
    pages = max(1, math.ceil(len(grants) / ROLES_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    rows = []
    for grant, user in grants[page * ROLES_PER_PAGE : (page + 1) * ROLES_PER_PAGE]:
        scope = scope_name(v, content, grant.role, grant.scope)
        label = f"✖️ {clip(user.first_name or str(user.id), 20)} · {tr._(ROLE_LABELS[grant.role])}" + (f" · {clip(scope, 20)}" if scope else "")
        rows.append([button(label, callbacks.ROLE_REVOKE, grant.id)])
    pager = pager_row(tr, callbacks.ROLES_LIST, page, pages)
    if pager:
        rows.append(pager)
    rows.append(back_row(tr, callbacks.STAFF))
    text = tr._("<b>Ruoli assegnati.</b> Tocca una riga per togliere quel ruolo.") if grants else tr._("Nessun ruolo assegnato con un invito.")
    return Screen(text, rows)


async def roles_list(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    rt = context.rt
    await update.callback_query.answer()
    if not v.roles.is_admin:
        await show(update, Screen(v.tr._("Solo gli amministratori vedono i ruoli."), [menu_row(v.tr)]))
        return
    async with rt.db.read() as session:
        grants = await users.list_grants(session)
    await show(update, render_roles(v, rt.content, grants, context.data.int(0)))


async def role_revoke(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    rt = context.rt
    if not v.roles.is_admin:
        log.warning("user %s tried to revoke a role", v.user_id)
        await update.callback_query.answer(v.tr._("Solo gli amministratori possono togliere ruoli."), show_alert=True)
        await show(update, Screen(v.tr._("Cosa vuoi fare?"), [menu_row(v.tr)]))
        return
    async with rt.db.write() as session:
        revoked = await users.revoke_role(session, context.data.int(0), rt.clock.now())
        grants = await users.list_grants(session)
    rt._users.clear()  # the revoked person's cached roles must go now, whoever they are
    await update.callback_query.answer(v.tr._("Ruolo tolto.") if revoked else v.tr._("Era già stato tolto."))
    await show(update, render_roles(v, rt.content, grants, 0))


async def invite_command(update: Update, context: FrontDeskContext) -> None:
    await invite_role(update, context)


async def reload_content(update: Update, context: FrontDeskContext) -> None:
    """/reload: editors apply their changes now and see what is wrong; the bot keeps the last good version."""
    v = await context.open()
    rt = context.rt
    if not v.roles.can_edit_content:
        await show(update, Screen(v.tr._("Solo la redazione e gli amministratori possono ricaricare i contenuti."), [menu_row(v.tr)]))
        return
    problems = rt.content_store.reload()
    if not problems:
        content = rt.content
        text = v.tr._("✅ Contenuti ricaricati: {spaces} spazi, {services} servizi.", spaces=len(content.spaces), services=len(content.services))
    else:
        listed = "\n".join(f"• <code>{v.tr.isolate(clip(str(problem), 300))}</code>" for problem in problems[:10])
        text = v.tr.n_(
            "❌ C'è {n} errore: continuo a usare la versione precedente.",
            "❌ Ci sono {n} errori: continuo a usare la versione precedente.",
            len(problems),
        ) + "\n\n" + listed
    await show(update, Screen(text, [menu_row(v.tr)]))
