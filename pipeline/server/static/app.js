// The operator console: capture → /ws/call → live transcript and draft ticket → edit, confirm, dispatch; the list.
// Plain browser JavaScript, no libraries, no build step; the server's API is described in pipeline/server/app.py.
// Three classic scripts share one global scope, loaded in order (defer): app.js (constants, state, helpers, tabs,
// wiring), call.js (microphones, the call, the transcript), ticket.js (the form, the list). main() runs once all
// three are in (DOMContentLoaded).
"use strict";

const FIELDS = ["request_type", "category", "department", "location", "district", "street", "road", "number",
  "compound", "intersection", "summary", "urgency", "priority", "time_limit_hours", "caller_phone", "caller_id"];
const PARTS = ["district", "street", "road", "number", "compound", "intersection"];
// Which drafted field holds the evidence of a form field (location parts come from location, and so on).
const EVIDENCE_OF = { priority: "urgency", time_limit_hours: "urgency" };
for (const p of PARTS) EVIDENCE_OF[p] = "location";
const STATUS_LABELS = { processing: "处理中", draft: "草稿", confirmed: "已确认", dispatched: "已派单", failed: "失败" };
const SPEAKERS = { operator: "坐席", caller: "来电人" };
const TARGET_RATE_HZ = 16000;
const FRAME_MS = 100;
const PAGE_SIZE = 50;

const $ = (sel) => document.querySelector(sel);
const fieldEl = (name) => document.getElementById("field-" + name);

const state = {
  me: null,
  call: null, // the call in progress (see answer())
  ticketId: null,
  status: null, // the stored ticket's status; null while a call's ticket is not stored yet
  ticket: null, // the stored ticket (StoredTicket.to_dict()) shown in the form
  draft: null, // the drafted ticket (ticket_to_dict JSON): evidence and category candidates
  saved: {}, // field -> value as the server holds it
  edited: new Set(), // fields the operator changed during the call: live drafts never overwrite them
  saving: Promise.resolve(),
  listOffset: 0,
  listSeq: 0, // loads of the ticket list started
};

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

async function api(path, { method = "GET", json, body } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const r = await fetch(path, init);
  if (r.status === 401) {
    location.assign("/login");
    throw new Error("登录已过期，请重新登录");
  }
  let data = null;
  try {
    data = await r.json();
  } catch (_) {
    data = null;
  }
  if (!r.ok) throw new Error((data && data.error) || `${method} ${path}: ${r.status} ${r.statusText}`);
  return data;
}

let noticeTimer = null;
function notify(message, kind = "error") {
  const el = $("#notice");
  el.textContent = message;
  el.className = "notice " + kind;
  el.hidden = false;
  clearTimeout(noticeTimer);
  if (kind !== "error") noticeTimer = setTimeout(() => (el.hidden = true), 6000);
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fmtNum(x) {
  if (x === null || x === undefined || x === "") return null;
  const n = Number(x);
  return Number.isFinite(n) ? String(n) : String(x);
}

function isOverdue(t) {
  if (typeof t.overdue === "boolean") return t.overdue;
  return t.status === "dispatched" && !!t.due_at && new Date(t.due_at) < new Date();
}

// ---------------------------------------------------------------------------------------------------------------
// Tabs and the signed-in user

function showTab(name) {
  const list = name === "list";
  $("#view-console").hidden = list;
  $("#view-list").hidden = !list;
  $("#tab-console").setAttribute("aria-selected", String(!list));
  $("#tab-list").setAttribute("aria-selected", String(list));
  history.replaceState(null, "", list ? "#list" : location.pathname);
  if (list) loadList();
}

async function loadMe() {
  state.me = await api("/api/me");
  $("#user-name").textContent = state.me.name;
  const supervisor = state.me.role === "supervisor";
  $("#user-role").textContent = supervisor ? "班长" : "坐席";
  $("#export-csv").hidden = !supervisor;
  $("#export-json").hidden = !supervisor;
  for (const el of document.querySelectorAll(".owner-col")) el.hidden = !supervisor;
}

// ---------------------------------------------------------------------------------------------------------------
// Wiring

function wire() {
  $("#tab-console").addEventListener("click", () => showTab("console"));
  $("#tab-list").addEventListener("click", () => showTab("list"));
  $("#answer").addEventListener("click", answer);
  $("#hangup").addEventListener("click", hangup);
  $("#confirm").addEventListener("click", confirmTicket);
  $("#dispatch").addEventListener("click", dispatchTicket);
  $("#notice").addEventListener("click", () => ($("#notice").hidden = true));
  $("#device-select").addEventListener("change", (e) => localStorage.setItem("hotline.device", e.target.value));
  if (navigator.mediaDevices) navigator.mediaDevices.addEventListener("devicechange", () => loadDevices());

  const form = $("#ticket-form");
  form.addEventListener("submit", (e) => e.preventDefault());
  form.addEventListener("input", (e) => {
    const name = e.target.dataset && e.target.dataset.field;
    if (!name) return;
    if (state.call) state.edited.add(name); // live drafts of this call must not overwrite it
    e.target.classList.add("edited");
  });
  form.addEventListener("change", (e) => {
    if (e.target.dataset && e.target.dataset.field) save().catch(() => {});
  });
  form.addEventListener("focusin", (e) => {
    const name = e.target.dataset && e.target.dataset.field;
    if (name) highlightEvidence(name);
  });
  $("#category-top3").addEventListener("click", (e) => {
    const chip = e.target.closest(".chip");
    if (!chip || fieldEl("category").disabled) return;
    writeField("category", chip.dataset.value);
    if (state.call) state.edited.add("category");
    fieldEl("category").classList.add("edited");
    save().catch(() => {});
  });

  document.addEventListener(
    "keydown",
    (e) => {
      if ($("#view-console").hidden) return;
      if (e.ctrlKey && !e.shiftKey && !e.altKey && e.key === "Enter") {
        e.preventDefault();
        confirmTicket();
      } else if (e.ctrlKey && e.shiftKey && !e.altKey && (e.key === "D" || e.key === "d")) {
        e.preventDefault();
        dispatchTicket();
      } else if (e.altKey && !e.ctrlKey && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
        e.preventDefault();
        moveField(e.key === "ArrowDown" ? 1 : -1);
      }
    },
    true,
  );

  const filters = $("#list-filters");
  const reload = () => {
    state.listOffset = 0;
    loadList();
  };
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    reload();
  });
  filters.addEventListener("change", (e) => {
    if (e.target.id !== "upload-file") reload();
  });
  let searchTimer = null;
  $("#list-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(reload, 300);
  });
  $("#list-prev").addEventListener("click", () => {
    state.listOffset = Math.max(0, state.listOffset - PAGE_SIZE);
    loadList();
  });
  $("#list-next").addEventListener("click", () => {
    state.listOffset += PAGE_SIZE;
    loadList();
  });
  const rowOpen = (e) => {
    const tr = e.target.closest("tr[data-id]");
    if (tr) openTicket(Number(tr.dataset.id));
  };
  $("#ticket-list").addEventListener("click", rowOpen);
  $("#ticket-list").addEventListener("keydown", (e) => e.key === "Enter" && rowOpen(e));
  $("#upload-file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) upload(file);
    e.target.value = "";
  });
  window.addEventListener("beforeunload", (e) => {
    if (state.call) e.preventDefault();
  });
}

async function main() {
  wire();
  clearTicket();
  setCallUi("idle", "空闲");
  try {
    await loadMe();
  } catch (err) {
    notify(err.message);
  }
  await loadDevices().catch((err) => notify(`无法列出麦克风：${err.message}`));
  showTab(location.hash === "#list" ? "list" : "console");
}

document.addEventListener("DOMContentLoaded", main);
