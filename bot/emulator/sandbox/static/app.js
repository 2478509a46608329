// The sandbox page: a Telegram-like chat with the bot, one chat per persona, driven through the emulator's
// /_emu/ control API and its live event stream. Bot text is Telegram HTML: it is turned into DOM nodes by a
// whitelist parser below, never assigned to innerHTML.
"use strict";

const state = {
  personas: [],
  current: null, // the persona whose chat is shown
  chats: new Map(), // chat id -> {messages: Map(message id -> message), replyKeyboard, loaded}
  unread: new Map(), // chat id -> bot messages not seen yet
  commands: [],
  estates: [],
  refusals: [],
  pendingButtons: new Map(), // callback_query_id -> the button element showing its spinner
  answeredQueries: new Set(), // answers that arrived before the press's own response did
  keyboardHidden: false,
  timezone: "Europe/Rome", // the bot's QC_TIMEZONE, from /sandbox/info: times read as the bot writes them
};

// Languages written right to left: their chats are mirrored as Telegram mirrors its app in those languages.
const RTL_LANGUAGES = new Set(["ar", "fa", "he", "ur"]);
const RTL_LETTER = /[\p{Script=Arabic}\p{Script=Hebrew}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]/u;
const ISOLATED_RUN = /\u2068[^\u2069]*\u2069/g;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// Small helpers

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options = {}) {
  const init = { ...options };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, init);
  let body = null;
  try {
    body = await response.json();
  } catch (_error) {
    throw new Error(`${path}: risposta non valida (${response.status})`);
  }
  if (!response.ok || (body && body.ok === false && body.error)) {
    throw new Error((body && body.error) || `${path}: errore ${response.status}`);
  }
  return body && Object.prototype.hasOwnProperty.call(body, "result") ? body.result : body;
}

let toastTimer = null;
function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 3500);
}

function showAlert(text) {
  $("alert-text").textContent = text;
  const dialog = $("alert-dialog");
  if (!dialog.open) dialog.showModal();
}

function reportError(error) {
  toast(`⚠️ ${error.message || error}`);
}

function timeOf(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString("it-IT", {
    hour: "2-digit", minute: "2-digit", timeZone: state.timezone,
  });
}

// A text's direction by its first strong letter, as Telegram decides it; isolated values (a code, a name) inside
// it do not count, as in Unicode's own rule.
function directionOf(text) {
  const strong = (text || "").replace(ISOLATED_RUN, "").match(/[\p{L}\u200e\u200f\u061c]/u);
  return strong && (strong[0] === "\u200f" || strong[0] === "\u061c" || RTL_LETTER.test(strong[0])) ? "rtl" : "ltr";
}

// ---------------------------------------------------------------------------------------------
// Telegram HTML → DOM, by whitelist. The emulator already refused anything Telegram would refuse, so the
// source is valid Telegram HTML; anything unexpected is shown as text, never interpreted.

const TAG_PATTERN = /<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z][a-zA-Z0-9-]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*>/g;
const ATTRIBUTE_PATTERN = /([a-zA-Z][a-zA-Z0-9-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g;
const ENTITY_PATTERN = /&(#[xX][0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot);/g;
const NAMED_ENTITIES = { lt: "<", gt: ">", amp: "&", quot: '"' };
const SIMPLE_TAGS = {
  b: "strong", strong: "strong", i: "em", em: "em", u: "u", ins: "u",
  s: "s", strike: "s", del: "s", code: "code", pre: "pre",
};
const LINK_SCHEMES = new Set(["http:", "https:", "tg:"]);
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'»]/g;

function decodeEntities(text) {
  return text.replace(ENTITY_PATTERN, (whole, name) => {
    if (name[0] !== "#") return NAMED_ENTITIES[name];
    const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

function attributesOf(source) {
  const attributes = {};
  for (const match of source.matchAll(ATTRIBUTE_PATTERN)) {
    attributes[match[1].toLowerCase()] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? "");
  }
  return attributes;
}

function safeHref(href) {
  try {
    const url = new URL(href);
    return LINK_SCHEMES.has(url.protocol) ? url.href : null;
  } catch (_error) {
    return null;
  }
}

function link(href, children) {
  const anchor = el("a", { href, target: "_blank", rel: "noopener noreferrer" });
  anchor.append(...children);
  return anchor;
}

// Text as Telegram shows it: addresses in plain text become links, like the apps do.
function appendText(parent, text, { linkify = true } = {}) {
  if (!text) return;
  if (!linkify) {
    parent.append(document.createTextNode(text));
    return;
  }
  let last = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    parent.append(document.createTextNode(text.slice(last, match.index)));
    const href = safeHref(match[0]);
    parent.append(href ? link(href, [match[0]]) : document.createTextNode(match[0]));
    last = match.index + match[0].length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

function elementForTag(name, attributes) {
  if (SIMPLE_TAGS[name]) return el(SIMPLE_TAGS[name]);
  if (name === "a") {
    const href = attributes.href !== undefined ? safeHref(attributes.href) : null;
    return href ? el("a", { href, target: "_blank", rel: "noopener noreferrer" }) : el("span");
  }
  if (name === "tg-spoiler" || (name === "span" && attributes.class === "tg-spoiler")) {
    const spoiler = el("span", { className: "spoiler", title: "Tocca per vedere" });
    spoiler.addEventListener("click", () => spoiler.classList.add("revealed"));
    return spoiler;
  }
  if (name === "blockquote") return el("blockquote", { className: "expandable" in attributes ? "expandable" : null });
  if (name === "tg-emoji") return el("span");
  return null;
}

function renderTelegramHtml(source) {
  const root = document.createDocumentFragment();
  const stack = [{ name: null, node: root }];
  const top = () => stack[stack.length - 1];
  const insideLink = () => stack.some((entry) => entry.name === "a");
  let last = 0;
  for (const match of source.matchAll(TAG_PATTERN)) {
    appendText(top().node, decodeEntities(source.slice(last, match.index)), { linkify: !insideLink() });
    last = match.index + match[0].length;
    const [whole, closing, rawName, rawAttributes] = match;
    const name = rawName.toLowerCase();
    if (closing) {
      const index = stack.map((entry) => entry.name).lastIndexOf(name);
      if (index > 0) stack.length = index;
      else appendText(top().node, whole, { linkify: false });
      continue;
    }
    const node = elementForTag(name, attributesOf(rawAttributes));
    if (node === null) {
      appendText(top().node, whole, { linkify: false });
      continue;
    }
    top().node.append(node);
    stack.push({ name, node });
  }
  appendText(top().node, decodeEntities(source.slice(last)), { linkify: !insideLink() });
  return root;
}

// The bot's formatted text, or its plain text when the HTML does not match what Telegram displayed (a message
// sent without parse_mode, say): the plain text is what the person really saw.
function formattedText(html, plain) {
  const box = el("div", { className: "text", dir: "auto" });
  if (html) {
    const fragment = renderTelegramHtml(html);
    if (fragment.textContent.trim() === (plain || "").trim()) {
      box.append(fragment);
      return box;
    }
  }
  appendText(box, plain || "");
  return box;
}

// ---------------------------------------------------------------------------------------------
// Messages

function chatOf(chatId) {
  let chat = state.chats.get(chatId);
  if (!chat) {
    chat = { messages: new Map(), replyKeyboard: null, loaded: false };
    state.chats.set(chatId, chat);
  }
  return chat;
}

function fileUrl(fileId) {
  return `/_emu/files/${encodeURIComponent(fileId)}`;
}

function mediaBody(message) {
  const content = message.content || {};
  switch (message.kind) {
    case "photo": {
      const sizes = content.photo || [];
      const largest = sizes[sizes.length - 1];
      return el("img", { className: "photo", src: fileUrl(largest.file_id), alt: "Foto" });
    }
    case "voice":
    case "audio": {
      const media = content[message.kind];
      return el("div", { className: "voice" },
        el("span", { className: "voice-label" }, message.kind === "voice" ? "🎤 Messaggio vocale" : "🎵 Audio",
          media.duration ? ` · ${media.duration} s` : ""),
        el("audio", { controls: true, preload: "none", src: fileUrl(media.file_id) }));
    }
    case "document": {
      const document_ = content.document;
      return el("a", { className: "document", href: fileUrl(document_.file_id), download: document_.file_name || "file" },
        `📄 ${document_.file_name || "Documento"}`);
    }
    case "sticker":
      return el("div", { className: "sticker" }, content.sticker.emoji || "🖼️");
    case "contact":
      return el("div", { className: "card" }, `👤 ${content.contact.first_name} · ${content.contact.phone_number}`);
    case "venue":
      return placeCard("📍", content.venue.title, content.venue.address, content.venue.location);
    case "location":
      return placeCard("📍", "Posizione", null, content.location);
    default:
      return null;
  }
}

function placeCard(icon, title, address, location) {
  const coordinates = `${location.latitude.toFixed(5)}, ${location.longitude.toFixed(5)}`;
  return el("div", { className: "card place" },
    el("div", { className: "place-map", "aria-hidden": "true" }, icon),
    el("div", { className: "place-text" },
      el("div", { className: "place-title", dir: "auto" }, title),
      address ? el("div", { className: "place-address", dir: "auto" }, address) : null,
      el("div", { className: "place-coordinates" }, coordinates)));
}

function renderMessage(message) {
  const bubble = el("div", { className: `bubble ${message.from_bot ? "from-bot" : "from-user"}` });
  const media = mediaBody(message);
  if (media) bubble.append(media);
  if (message.kind === "text") {
    bubble.append(message.from_bot ? formattedText(message.html, message.text) : plainText(message.text));
  } else if (message.caption) {
    bubble.append(message.from_bot ? formattedText(message.html, message.caption) : plainText(message.caption));
  }
  bubble.append(el("div", { className: "meta" }, message.edited ? "modificato · " : "", timeOf(message.date)));
  // The message and its keyboard take the direction of its text: an Arabic screen's buttons run from the right.
  const row = el("div", {
    className: `message ${message.from_bot ? "incoming" : "outgoing"}`,
    "data-message-id": message.message_id,
    "data-kind": message.kind,
    dir: directionOf(message.text || message.caption || ""),
  }, bubble);
  const keyboard = (message.reply_markup || {}).inline_keyboard;
  if (keyboard && keyboard.length) row.append(renderInlineKeyboard(message, keyboard));
  return row;
}

function plainText(text) {
  const box = el("div", { className: "text", dir: "auto" });
  appendText(box, text || "");
  return box;
}

function renderInlineKeyboard(message, rows) {
  const keyboard = el("div", { className: "inline-keyboard" });
  for (const row of rows) {
    const line = el("div", { className: "keyboard-row" });
    for (const button of row) line.append(renderInlineButton(message, button));
    keyboard.append(line);
  }
  return keyboard;
}

function renderInlineButton(message, button) {
  if (button.url) {
    const href = safeHref(button.url);
    return el("a", { className: "inline-button", href: href || "#", target: "_blank", rel: "noopener noreferrer", dir: "auto" },
      button.text, " ↗");
  }
  const node = el("button", { type: "button", className: "inline-button", dir: "auto" }, button.text);
  if (button.callback_data === undefined) {
    node.disabled = true;
    node.title = "Questo tipo di pulsante non funziona nella sandbox";
    return node;
  }
  node.addEventListener("click", () => pressButton(message, button.callback_data, node));
  return node;
}

async function pressButton(message, callbackData, node) {
  if (node.classList.contains("pending")) return; // like the apps: one press at a time while the bot answers
  node.classList.add("pending");
  try {
    const result = await api("/_emu/send", {
      json: {
        type: "button", user_id: state.current.user_id, chat_id: message.chat_id,
        message_id: message.message_id, callback_data: callbackData,
      },
    });
    if (state.answeredQueries.delete(result.callback_query_id)) node.classList.remove("pending");
    else state.pendingButtons.set(result.callback_query_id, node);
  } catch (error) {
    node.classList.remove("pending");
    reportError(error);
  }
}

function showChat() {
  const list = $("messages");
  const persona = state.current;
  const chat = chatOf(persona.user_id);
  list.replaceChildren();
  const visible = [...chat.messages.values()].filter((message) => !message.deleted);
  if (!visible.length) {
    list.append(el("div", { className: "empty-chat" },
      el("p", {}, `Sei ${persona.name}. Questa chat è ancora vuota.`),
      el("button", { type: "button", className: "start-button", onclick: () => sendText("/start") }, "AVVIA")));
  }
  for (const message of visible) list.append(renderMessage(message));
  renderReplyKeyboard();
  scrollToEnd();
}

function scrollToEnd() {
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
}

function upsertMessage(message, kind) {
  const chat = chatOf(message.chat_id);
  chat.messages.set(message.message_id, message);
  if (kind === "message" && message.from_bot) trackReplyKeyboard(chat, message.reply_markup);
  if (kind === "message" && !message.from_bot && chat.replyKeyboard && chat.replyKeyboard.one_time_keyboard) {
    chat.replyKeyboard = null; // the apps hide a one-time keyboard once it has been used
  }
  if (!state.current || message.chat_id !== state.current.user_id) {
    if (kind === "message" && message.from_bot) markUnread(message.chat_id);
    return;
  }
  const list = $("messages");
  const existing = list.querySelector(`[data-message-id="${message.message_id}"]`);
  if (message.deleted) {
    if (existing) existing.remove();
  } else if (existing) {
    existing.replaceWith(renderMessage(message));
  } else {
    const empty = list.querySelector(".empty-chat");
    if (empty) empty.remove();
    list.append(renderMessage(message));
    scrollToEnd();
  }
  renderReplyKeyboard();
}

function trackReplyKeyboard(chat, markup) {
  if (!markup) return;
  if (markup.keyboard) {
    chat.replyKeyboard = markup;
    state.keyboardHidden = false;
  } else if (markup.remove_keyboard) {
    chat.replyKeyboard = null;
  }
}

function renderReplyKeyboard() {
  const box = $("reply-keyboard");
  const markup = state.current ? chatOf(state.current.user_id).replyKeyboard : null;
  $("keyboard-toggle").hidden = !markup;
  box.replaceChildren();
  box.hidden = !markup || state.keyboardHidden;
  if (!markup) return;
  if (markup.input_field_placeholder) $("composer-text").placeholder = markup.input_field_placeholder;
  for (const row of markup.keyboard) {
    const line = el("div", { className: "keyboard-row" });
    for (const raw of row) {
      const button = typeof raw === "string" ? { text: raw } : raw;
      line.append(el("button", {
        type: "button", className: "reply-button", dir: "auto",
        onclick: () => pressReplyButton(button),
      }, button.text)); // as Telegram shows it: the bot's own words, with no icon added
    }
    box.append(line);
  }
}

function pressReplyButton(button) {
  if (button.request_location) {
    openLocationDialog();
  } else if (button.request_contact) {
    send({ type: "contact", phone_number: "+39 333 123 4567" });
  } else {
    sendText(button.text);
  }
}

// ---------------------------------------------------------------------------------------------
// Personas

function renderPersonas() {
  const list = $("persona-list");
  list.replaceChildren();
  for (const persona of state.personas) {
    const unread = state.unread.get(persona.user_id) || 0;
    const selected = state.current && state.current.user_id === persona.user_id;
    const role = persona.scope ? `${persona.role_label} · ${persona.scope}` : persona.role_label;
    const item = el("li", {},
      el("button", {
        type: "button",
        className: `persona${selected ? " selected" : ""}${persona.role ? " staff" : ""}`,
        "data-persona": persona.key,
        "aria-current": selected ? "true" : null,
        onclick: () => selectPersona(persona),
      },
      el("span", { className: "avatar", "aria-hidden": "true", style: `--hue: ${(persona.user_id * 47) % 360}` }, persona.name[0]),
      el("span", { className: "persona-text" },
        el("span", { className: "persona-name" }, persona.name, el("span", { className: "language" }, persona.language)),
        el("span", { className: "persona-role" }, role),
        el("span", { className: "persona-about" }, persona.about)),
      unread ? el("span", { className: "badge unread", "aria-label": `${unread} nuovi messaggi` }, unread) : null));
    list.append(item);
  }
}

function markUnread(chatId) {
  state.unread.set(chatId, (state.unread.get(chatId) || 0) + 1);
  renderPersonas();
}

async function selectPersona(persona) {
  state.current = persona;
  state.unread.delete(persona.user_id);
  state.keyboardHidden = false;
  history.replaceState(null, "", `#${persona.key}`);
  $("toast").hidden = true; // an answer to someone else's tap does not belong in this chat
  document.body.dataset.language = persona.language;
  const direction = RTL_LANGUAGES.has(persona.language) ? "rtl" : "ltr";
  $("messages").dir = direction;
  $("reply-keyboard").dir = direction;
  $("chat-status").textContent = `bot · scrivi come ${persona.name} (${persona.language})`;
  $("composer-text").placeholder = "Scrivi un messaggio…";
  closeMenus();
  renderPersonas();
  document.querySelector(`[data-persona="${persona.key}"]`).scrollIntoView({ block: "nearest" });
  showChat();
  try {
    await loadChat(persona.user_id);
    if (state.current === persona) showChat();
    state.commands = await api(`/_emu/commands?language_code=${encodeURIComponent(persona.language)}&chat_id=${persona.user_id}`);
  } catch (error) {
    reportError(error);
  }
}

async function loadChat(chatId) {
  const snapshot = await api(`/_emu/chats/${chatId}`);
  const chat = chatOf(chatId);
  chat.messages = new Map(snapshot.messages.map((message) => [message.message_id, message]));
  chat.replyKeyboard = snapshot.reply_keyboard;
  chat.loaded = true;
}

// ---------------------------------------------------------------------------------------------
// Sending

async function send(body) {
  if (!state.current) return;
  try {
    await api("/_emu/send", { json: { user_id: state.current.user_id, ...body } });
  } catch (error) {
    reportError(error);
  }
}

function sendText(text) {
  const trimmed = text.trim();
  if (trimmed) return send({ type: "text", text: trimmed });
  return Promise.resolve();
}

function readAsBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function sendPhoto(file) {
  const input = $("composer-text");
  const caption = input.value.trim();
  try {
    const data = await readAsBase64(file);
    await send({ type: "photo", data, caption: caption || null });
    input.value = "";
  } catch (error) {
    reportError(error);
  }
}

// A built-in voice note: a short, quiet two-tone chime as a WAV file (the bot only stores and forwards it).
function sampleVoiceNote(seconds = 3) {
  const rate = 8000;
  const samples = rate * seconds;
  const buffer = new ArrayBuffer(44 + samples * 2);
  const view = new DataView(buffer);
  const ascii = (offset, text) => [...text].forEach((char, index) => view.setUint8(offset + index, char.charCodeAt(0)));
  ascii(0, "RIFF"); view.setUint32(4, 36 + samples * 2, true); ascii(8, "WAVE");
  ascii(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  ascii(36, "data"); view.setUint32(40, samples * 2, true);
  for (let index = 0; index < samples; index += 1) {
    const time = index / rate;
    const frequency = time < seconds / 2 ? 440 : 660;
    const fade = Math.min(1, time * 10, (seconds - time) * 10);
    view.setInt16(44 + index * 2, Math.round(Math.sin(2 * Math.PI * frequency * time) * 3000 * fade), true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

async function sendVoice(blob, seconds) {
  try {
    const data = await readAsBase64(blob);
    await send({ type: "voice", data, duration: Math.max(1, Math.round(seconds)) });
  } catch (error) {
    reportError(error);
  }
}

const recording = { recorder: null, chunks: [], startedAt: 0 };

async function startRecording() {
  const status = $("voice-status");
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    status.textContent = "Questo browser non può registrare qui: manda il vocale di prova.";
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream);
    recording.recorder = recorder;
    recording.chunks = [];
    recording.startedAt = Date.now();
    recorder.ondataavailable = (event) => recording.chunks.push(event.data);
    recorder.onstop = () => stream.getTracks().forEach((track) => track.stop());
    recorder.start();
    status.textContent = "🔴 Sto registrando… tocca «Ferma e invia» quando hai finito.";
    $("voice-record").hidden = true;
    $("voice-stop").hidden = false;
  } catch (_error) {
    status.textContent = "Il microfono non è disponibile o non è permesso: manda il vocale di prova.";
  }
}

function stopRecording({ sendIt }) {
  const recorder = recording.recorder;
  $("voice-record").hidden = false;
  $("voice-stop").hidden = true;
  if (!recorder) return;
  recording.recorder = null;
  recorder.addEventListener("stop", () => {
    if (sendIt) sendVoice(new Blob(recording.chunks, { type: recorder.mimeType }), (Date.now() - recording.startedAt) / 1000);
  }, { once: true });
  recorder.stop();
}

// ---------------------------------------------------------------------------------------------
// Location

function openLocationDialog() {
  closeMenus();
  const list = $("estate-list");
  list.replaceChildren();
  for (const estate of state.estates) {
    list.append(el("li", {}, el("button", {
      type: "button", className: "estate",
      onclick: () => {
        $("location-dialog").close();
        send({ type: "location", latitude: estate.latitude, longitude: estate.longitude });
      },
    }, el("span", { className: "estate-name" }, estate.name), el("span", { className: "estate-address" }, estate.address))));
  }
  $("coordinates-error").hidden = true;
  $("location-dialog").showModal();
}

function sendTypedCoordinates() {
  const latitude = parseFloat($("latitude").value);
  const longitude = parseFloat($("longitude").value);
  const error = $("coordinates-error");
  if (!(latitude >= -90 && latitude <= 90) || !(longitude >= -180 && longitude <= 180)) {
    error.textContent = "Scrivi una latitudine tra -90 e 90 e una longitudine tra -180 e 180 (per Milano: 45.46 e 9.19).";
    error.hidden = false;
    return;
  }
  $("location-dialog").close();
  send({ type: "location", latitude, longitude });
}

// ---------------------------------------------------------------------------------------------
// Commands menu

function showCommands(filter) {
  const menu = $("command-menu");
  const wanted = filter.replace(/^\//, "").toLowerCase();
  const matching = state.commands.filter((command) => command.command.startsWith(wanted));
  menu.replaceChildren();
  if (!matching.length) {
    menu.hidden = true;
    return;
  }
  for (const command of matching) {
    menu.append(el("button", {
      type: "button", role: "option", className: "command",
      onclick: () => {
        $("composer-text").value = "";
        menu.hidden = true;
        sendText(`/${command.command}`);
      },
    }, el("span", { className: "command-name" }, `/${command.command}`),
    el("span", { className: "command-description", dir: "auto" }, command.description)));
  }
  menu.hidden = false;
}

function closeMenus() {
  $("command-menu").hidden = true;
  $("attach-menu").hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Tools: content reload and refusals

function personaName(chatId) {
  const persona = state.personas.find((candidate) => candidate.user_id === chatId);
  return persona ? persona.name : chatId === null || chatId === undefined ? "—" : `chat ${chatId}`;
}

function paramsSummary(params) {
  const shown = [];
  for (const name of ["text", "caption"]) {
    if (typeof params[name] === "string") {
      const text = params[name];
      shown.push(`${name}: ${[...text].length} caratteri — «${text.length > 160 ? `${text.slice(0, 160)}…` : text}»`);
    }
  }
  if (params.callback_data) shown.push(`callback_data: ${params.callback_data}`);
  return shown.join("\n");
}

function addRefusal(refusal) {
  state.refusals.push(refusal);
  const params = refusal.params || {};
  const chatId = params.chat_id !== undefined ? Number(params.chat_id) : null;
  const summary = paramsSummary(params);
  $("refusals").prepend(el("li", { className: `refusal${refusal.injected ? " injected" : ""}` },
    el("div", { className: "refusal-head" },
      el("strong", {}, refusal.method), ` · ${refusal.error_code} · ${personaName(chatId)} · ${timeOf(refusal.at)}`),
    el("div", { className: "refusal-description" }, refusal.description),
    summary ? el("pre", { className: "refusal-params", dir: "auto" }, summary) : null));
  $("refusal-count").textContent = String(state.refusals.length);
  const badge = $("refusal-badge");
  badge.textContent = String(state.refusals.length);
  badge.hidden = false;
}

async function reloadContent() {
  const button = $("reload-button");
  const result = $("reload-result");
  button.disabled = true;
  result.replaceChildren(el("p", {}, "Ricarico…"));
  try {
    const outcome = await api("/sandbox/reload", { json: {} });
    if (outcome.ok) {
      result.replaceChildren(el("p", { className: "reload-ok" },
        `✅ Contenuti ricaricati: ${outcome.spaces} spazi, ${outcome.services} servizi, ${outcome.estates} caseggiati.`));
      state.estates = await api("/sandbox/estates");
    } else {
      const count = outcome.problems.length;
      result.replaceChildren(
        el("p", { className: "reload-failed" },
          `❌ ${count} ${count === 1 ? "errore" : "errori"}: il bot continua con la versione di prima.`),
        el("ul", { className: "problems" }, ...outcome.problems.map((problem) => el("li", {}, el("code", {}, problem)))));
    }
  } catch (error) {
    result.replaceChildren(el("p", { className: "reload-failed" }, `❌ ${error.message}`));
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Live events from the emulator

function handleEvent(event) {
  switch (event.type) {
    case "message":
    case "edit":
    case "delete":
      upsertMessage(event.message, event.type);
      break;
    case "callback_answer": {
      const node = state.pendingButtons.get(event.callback_query_id);
      if (node) {
        node.classList.remove("pending");
        state.pendingButtons.delete(event.callback_query_id);
      } else {
        state.answeredQueries.add(event.callback_query_id);
      }
      const answer = event.answer || {};
      if (state.current && event.chat_id === state.current.user_id && answer.text) {
        if (answer.show_alert) showAlert(answer.text);
        else toast(answer.text);
      }
      break;
    }
    case "chat_action":
      if (state.current && event.chat_id === state.current.user_id) showTyping();
      break;
    case "refusal":
      addRefusal(event.refusal);
      break;
    case "shutdown":
      showBanner("La sandbox si è fermata. Riavviala dal terminale, poi ricarica la pagina.");
      break;
    default:
      break;
  }
}

let typingTimer = null;
function showTyping() {
  const status = $("chat-status");
  status.classList.add("typing");
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => status.classList.remove("typing"), 2500);
}

function showBanner(text) {
  const banner = $("banner");
  banner.textContent = text;
  banner.hidden = !text;
}

function connectEvents() {
  const source = new EventSource("/_emu/events");
  let lost = false;
  source.onmessage = (message) => handleEvent(JSON.parse(message.data));
  source.onerror = () => {
    lost = true;
    showBanner("Collegamento con la sandbox perso: riprovo…");
  };
  source.onopen = async () => {
    if (!lost) return;
    lost = false;
    showBanner("");
    // Events sent while the page was away are not replayed: catch up from the current state.
    if (state.current) {
      await loadChat(state.current.user_id);
      showChat();
    }
    await loadRefusals();
  };
}

async function loadRefusals() {
  $("refusals").replaceChildren();
  state.refusals = [];
  for (const refusal of await api("/_emu/refusals")) addRefusal(refusal);
  if (!state.refusals.length) $("refusal-badge").hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wireComposer() {
  const input = $("composer-text");
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    closeMenus();
    sendText(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    } else if (event.key === "Escape") {
      closeMenus();
    }
  });
  input.addEventListener("input", () => {
    const value = input.value;
    if (/^\/\w*$/.test(value)) showCommands(value);
    else $("command-menu").hidden = true;
  });
  $("menu-button").addEventListener("click", () => {
    const menu = $("command-menu");
    if (menu.hidden) showCommands("/");
    else menu.hidden = true;
  });
  $("attach-button").addEventListener("click", () => {
    const menu = $("attach-menu");
    menu.hidden = !menu.hidden;
    $("command-menu").hidden = true;
  });
  $("attach-photo").addEventListener("click", () => {
    closeMenus();
    $("photo-input").click();
  });
  $("photo-input").addEventListener("change", (event) => {
    const [file] = event.target.files;
    event.target.value = "";
    if (file) sendPhoto(file);
  });
  $("attach-voice").addEventListener("click", () => {
    closeMenus();
    $("voice-status").textContent = "Registra con il microfono, oppure manda un vocale di prova.";
    $("voice-dialog").showModal();
  });
  $("attach-location").addEventListener("click", openLocationDialog);
  $("keyboard-toggle").addEventListener("click", () => {
    state.keyboardHidden = !state.keyboardHidden;
    renderReplyKeyboard();
  });
}

function wireDialogs() {
  $("send-coordinates").addEventListener("click", sendTypedCoordinates);
  $("voice-record").addEventListener("click", startRecording);
  $("voice-stop").addEventListener("click", () => {
    stopRecording({ sendIt: true });
    $("voice-dialog").close();
  });
  $("voice-sample").addEventListener("click", () => {
    $("voice-dialog").close();
    sendVoice(sampleVoiceNote(3), 3);
  });
  $("voice-dialog").addEventListener("close", () => stopRecording({ sendIt: false }));
}

function wireTools() {
  $("reload-button").addEventListener("click", reloadContent);
  $("tools-toggle").addEventListener("click", () => setToolsOpen(!document.body.classList.contains("tools-open")));
  $("tools-close").addEventListener("click", () => setToolsOpen(false));
  $("tools-backdrop").addEventListener("click", () => setToolsOpen(false));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("tools-open")) setToolsOpen(false);
  });
  // On <html>: the size is set on :root, which rem units and every font size follow.
  $("text-size").addEventListener("click", () => {
    const large = document.documentElement.classList.toggle("large-text");
    $("text-size").setAttribute("aria-pressed", String(large));
  });
}

function setToolsOpen(open) {
  document.body.classList.toggle("tools-open", open);
  $("tools-toggle").setAttribute("aria-expanded", String(open));
  if (open) $("tools-close").focus();
  else if (document.activeElement === $("tools-close")) $("tools-toggle").focus();
}

async function start() {
  wireComposer();
  wireDialogs();
  wireTools();
  connectEvents();
  try {
    const [info, personas, estates] = await Promise.all([
      api("/sandbox/info"), api("/sandbox/personas"), api("/sandbox/estates"),
    ]);
    $("bot-name").textContent = info.bot.first_name;
    if (info.timezone) state.timezone = info.timezone;
    $("content-dir").textContent = info.content_dir;
    state.personas = personas;
    state.estates = estates;
    await loadRefusals();
    const wanted = personas.find((persona) => `#${persona.key}` === location.hash) || personas[0];
    await selectPersona(wanted);
    document.body.dataset.ready = "true";
  } catch (error) {
    showBanner(`La sandbox non risponde (${error.message}). È avviata? Ricarica la pagina.`);
  }
}

start();
