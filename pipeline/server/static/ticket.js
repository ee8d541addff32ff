// The operator console, part 3 of 3 (after call.js): the ticket form (live fill, edits saved by PATCH, confirm,
// dispatch, keyboard moves) and the ticket list (filters, overdue rows, export links, upload).
"use strict";

// ---------------------------------------------------------------------------------------------------------------
// The ticket form

function readField(name) {
  const v = fieldEl(name).value.trim();
  return v === "" ? null : v;
}

function writeField(name, value) {
  const el = fieldEl(name);
  const v = value === null || value === undefined ? "" : String(value);
  if (el.tagName === "SELECT" && v && ![...el.options].some((o) => o.value === v)) el.add(new Option(v, v));
  if (el.value !== v) {
    el.value = v;
    el.classList.remove("updated");
    void el.offsetWidth; // restart the highlight animation
    el.classList.add("updated");
  }
}

function draftValues(t) {
  const value = (f) => (t[f] && t[f].value !== null && t[f].value !== undefined ? String(t[f].value) : null);
  const v = {};
  for (const f of ["request_type", "category", "department", "location", "summary", "urgency", "caller_phone", "caller_id"]) {
    v[f] = value(f);
  }
  const parts = (t.location && t.location.parts) || {};
  for (const p of PARTS) v[p] = parts[p] ?? null;
  const u = t.urgency || {};
  v.priority = u.priority ?? null;
  v.time_limit_hours = fmtNum(u.time_limit_hours);
  return v;
}

function renderCandidates() {
  const box = $("#category-top3");
  box.replaceChildren();
  const cands = (state.draft && state.draft.category && state.draft.category.candidates) || [];
  for (const c of cands.slice(0, 3)) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.dataset.value = c.value;
    chip.textContent = `${c.value} ${Math.round((c.probability || 0) * 100)}%`;
    chip.tabIndex = -1;
    box.append(chip);
  }
  const options = $("#category-options");
  for (const c of cands) {
    if (![...options.options].some((o) => o.value === c.value)) options.append(new Option(c.value));
  }
}

// A live draft from the call: fill every field the operator has not touched.
function applyDraft(ticket) {
  state.draft = ticket;
  const values = draftValues(ticket);
  for (const f of FIELDS) if (!state.edited.has(f)) writeField(f, values[f]);
  renderCandidates();
}

// The stored ticket (after the call, from the list, after a save): its fields, status and, if asked, transcript.
function applyStored(t, { transcript = false } = {}) {
  state.ticket = t;
  state.ticketId = t.id;
  state.saved = { ...(t.fields || {}) };
  if (t.draft) state.draft = t.draft;
  $("#ticket-id").textContent = "#" + t.id;
  for (const f of FIELDS) {
    const el = fieldEl(f);
    if (state.edited.has(f)) continue; // typed in during the call: saved right after (see ticket_final)
    if (document.activeElement === el && readField(f) !== (t.fields || {})[f]) continue; // being typed in
    writeField(f, (t.fields || {})[f]);
  }
  renderCandidates();
  if (transcript && t.transcript) renderTranscript(t.transcript);
  showStatus(t.status);
}

function showStatus(status) {
  state.status = status;
  const el = $("#ticket-status");
  el.textContent = STATUS_LABELS[status] || "无工单";
  el.className = "status " + (status ? "status-" + status : "");
  const t = state.ticket;
  const info = $("#ticket-dispatch");
  if (status === "dispatched" && t) {
    const department = (t.fields && t.fields.department) || "—";
    info.textContent = `承办部门：${department} · 派单：${fmtTime(t.dispatched_at)} · 办结期限：${fmtTime(t.due_at)}`;
    info.hidden = false;
    info.classList.toggle("overdue", isOverdue(t));
  } else if (status === "failed" && t && t.error) {
    info.textContent = "失败原因：" + t.error;
    info.hidden = false;
  } else {
    info.hidden = true;
  }
  $("#confirm").disabled = status !== "draft";
  $("#dispatch").disabled = status !== "confirmed";
  const locked = status === "dispatched";
  for (const f of FIELDS) fieldEl(f).disabled = locked;
}

function clearTicket() {
  state.ticket = null;
  state.ticketId = null;
  state.draft = null;
  state.saved = {};
  state.edited.clear();
  for (const f of FIELDS) {
    writeField(f, null);
    fieldEl(f).classList.remove("edited", "updated");
  }
  $("#ticket-id").textContent = "";
  $("#save-state").textContent = "";
  renderCandidates();
  renderTranscript(null);
  showStatus(null);
}

function changedFields() {
  const changes = {};
  for (const f of FIELDS) {
    const v = readField(f);
    if (v !== (state.saved[f] ?? null)) changes[f] = v;
  }
  return changes;
}

// PATCH what differs from the stored ticket. Saves run one after the other; returns when this one is done.
function save() {
  state.saving = state.saving.then(async () => {
    const id = state.ticketId;
    if (!id || !["draft", "confirmed", "failed"].includes(state.status)) return;
    const changes = changedFields();
    if (!Object.keys(changes).length) return;
    $("#save-state").textContent = "保存中…";
    try {
      const t = await api(`/api/tickets/${id}`, { method: "PATCH", json: { fields: changes } });
      if (state.ticketId !== id) return; // the form has moved on to another ticket meanwhile
      applyStored(t);
      $("#save-state").textContent = "已保存";
    } catch (err) {
      $("#save-state").textContent = "未保存";
      notify(`保存失败：${err.message}`);
      throw err;
    }
  });
  const done = state.saving;
  state.saving = done.catch(() => {});
  return done;
}

async function confirmTicket() {
  if (state.status !== "draft") {
    if (state.call) notify("挂断并生成工单后才能确认", "info");
    return;
  }
  const id = state.ticketId;
  try {
    await save();
    const t = await api(`/api/tickets/${id}/confirm`, { method: "POST" });
    if (state.ticketId === id) applyStored(t);
    notify(`工单 #${id} 已确认`, "info");
    $("#dispatch").focus();
  } catch (err) {
    notify(`确认失败：${err.message}`);
  }
}

async function dispatchTicket() {
  if (state.status !== "confirmed") {
    if (state.status === "draft") notify("请先确认工单（Ctrl+Enter）", "info");
    return;
  }
  const id = state.ticketId;
  try {
    await save();
    const t = await api(`/api/tickets/${id}/dispatch`, { method: "POST" });
    if (state.ticketId === id) applyStored(t);
    notify(`工单 #${id} 已派单`, "info");
  } catch (err) {
    notify(`派单失败：${err.message}`);
  }
}

async function openTicket(id) {
  if (state.call) {
    notify("通话中，请先挂断再打开其他工单", "info");
    return;
  }
  try {
    const t = await api(`/api/tickets/${id}`);
    clearTicket();
    applyStored(t, { transcript: true });
    showTab("console");
    if (t.status === "processing") waitForTicket(t.id);
  } catch (err) {
    notify(`无法打开工单 #${id}：${err.message}`);
  }
}

function moveField(step) {
  const els = [...document.querySelectorAll("#ticket-form [data-field]")].filter((el) => !el.disabled);
  const at = els.indexOf(document.activeElement);
  const next = els[(at + step + els.length) % els.length] || els[0];
  if (next) next.focus();
}

// ---------------------------------------------------------------------------------------------------------------
// The ticket list

function listFilters() {
  const q = new URLSearchParams();
  const add = (key, sel) => {
    const v = $(sel).value.trim();
    if (v) q.set(key, v);
  };
  add("q", "#list-search");
  add("status", "#list-status");
  add("category", "#list-category");
  add("department", "#list-department");
  if (state.me && state.me.role === "supervisor") add("owner", "#list-owner");
  add("date_from", "#list-date-from");
  add("date_to", "#list-date-to");
  if ($("#list-overdue").checked) q.set("overdue", "1");
  return q;
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (cls) td.className = cls;
  return td;
}

async function loadList() {
  const filters = listFilters();
  $("#export-csv").href = "/api/tickets/export.csv?" + filters;
  $("#export-json").href = "/api/tickets/export.json?" + filters;
  const q = new URLSearchParams(filters);
  q.set("limit", PAGE_SIZE);
  q.set("offset", state.listOffset);
  const seq = ++state.listSeq; // a slower, older answer must not overwrite a newer one
  let data;
  try {
    data = await api("/api/tickets?" + q);
  } catch (err) {
    if (seq === state.listSeq) notify(`无法读取工单列表：${err.message}`);
    return;
  }
  if (seq !== state.listSeq) return;
  const supervisor = state.me && state.me.role === "supervisor";
  const rows = data.tickets.map((t) => {
    const f = t.fields || {};
    const tr = document.createElement("tr");
    tr.dataset.id = t.id;
    tr.tabIndex = 0;
    const overdue = isOverdue(t);
    tr.classList.toggle("overdue", overdue);
    tr.append(cell("#" + t.id), cell(fmtTime(t.created_at)));
    if (supervisor) tr.append(cell(t.owner));
    tr.append(
      cell(STATUS_LABELS[t.status] || t.status, "status-" + t.status),
      cell(f.request_type),
      cell(f.category),
      cell(f.department),
      cell(f.location),
      cell(f.summary, "summary"),
      cell(t.due_at ? fmtTime(t.due_at) + (overdue ? " 超期" : "") : ""),
    );
    for (const c of [f.category]) {
      if (c && ![...$("#category-options").options].some((o) => o.value === c)) $("#category-options").append(new Option(c));
    }
    if (f.department && ![...$("#department-options").options].some((o) => o.value === f.department)) {
      $("#department-options").append(new Option(f.department));
    }
    return tr;
  });
  const body = $("#ticket-list");
  body.replaceChildren(...rows);
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell("没有符合条件的工单", "empty");
    td.colSpan = 10;
    tr.append(td);
    body.append(tr);
  }
  const from = data.total ? state.listOffset + 1 : 0;
  $("#list-total").textContent = `第 ${from}–${state.listOffset + data.tickets.length} 条，共 ${data.total} 条`;
  $("#list-prev").disabled = state.listOffset === 0;
  $("#list-next").disabled = state.listOffset + data.tickets.length >= data.total;
  body.dataset.seq = seq; // the list shown is the answer to load number `seq`
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file);
  try {
    const r = await api("/api/uploads", { method: "POST", body: form });
    notify(`录音已上传，工单 #${r.ticket_id} 生成中`, "info");
    loadList();
    waitForTicket(r.ticket_id);
  } catch (err) {
    notify(`上传失败：${err.message}`);
  }
}
