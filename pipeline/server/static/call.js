// The operator console, part 2 of 3 (after app.js): microphones, the call (capture → worklet → websocket),
// server events, the transcript and the evidence marks. Shares app.js's constants and `state`.
"use strict";

// ---------------------------------------------------------------------------------------------------------------
// Microphones

async function loadDevices() {
  const select = $("#device-select");
  if (!navigator.mediaDevices || !window.AudioWorkletNode) {
    notify("此浏览器或地址无法使用麦克风：请用 Chromium/Chrome 通过 https 或本机地址打开。");
    $("#answer").disabled = true;
    return;
  }
  const wanted = select.value || localStorage.getItem("hotline.device") || "";
  const inputs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audioinput");
  select.replaceChildren();
  inputs.forEach((d, i) => {
    const o = new Option(d.label || `麦克风 ${i + 1}`, d.deviceId);
    o.selected = d.deviceId === wanted;
    select.add(o);
  });
  if (!inputs.length) select.add(new Option("未发现麦克风", ""));
}

function setLevel(peak) {
  const db = peak > 0 ? 20 * Math.log10(peak) : -100;
  const pct = Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
  const meter = $("#level-meter");
  meter.setAttribute("aria-valuenow", String(Math.round(pct)));
  meter.firstElementChild.style.width = pct + "%";
  meter.classList.toggle("clip", peak >= 0.99);
}

// ---------------------------------------------------------------------------------------------------------------
// A call: microphone → worklet (16 kHz, 100 ms frames) → int16 LE → websocket; server events → page

function setCallUi(phase, text) {
  $("#answer").disabled = phase !== "idle";
  $("#hangup").disabled = phase !== "live" && phase !== "connecting";
  $("#device-select").disabled = phase !== "idle";
  $("#call-status").textContent = text;
  $("#call-status").dataset.phase = phase;
}

function toInt16(samples) {
  const buf = new ArrayBuffer(samples.length * 2);
  const view = new DataView(buf);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(i * 2, s < 0 ? Math.round(s * 32768) : Math.round(s * 32767), true);
  }
  return buf;
}

// Frames captured before the socket is open wait in `pending`; after it has closed there is nowhere to send them.
function callSend(call, data) {
  if (call.ws && call.ws.readyState === WebSocket.OPEN) call.ws.send(data);
  else if (!call.ws || call.ws.readyState === WebSocket.CONNECTING) call.pending.push(data);
}

async function answer() {
  if (state.call) return;
  const ctx = new AudioContext(); // created in the click, so it may start; it runs at the device's rate
  const call = { ctx, ws: null, stream: null, node: null, pending: [], id: null, live: null, final: false, hangingUp: false };
  state.call = call;
  clearTicket();
  setCallUi("connecting", "正在接通…");
  try {
    const deviceId = $("#device-select").value;
    call.stream = await navigator.mediaDevices.getUserMedia({
      audio: {
        deviceId: deviceId ? { exact: deviceId } : undefined,
        echoCancellation: false,
        noiseSuppression: false,
        autoGainControl: false,
      },
    });
    if (deviceId) localStorage.setItem("hotline.device", deviceId);
    await ctx.audioWorklet.addModule("/static/capture-worklet.js");
    call.node = new AudioWorkletNode(ctx, "capture-processor", {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { targetRate: TARGET_RATE_HZ, frameMs: FRAME_MS },
    });
    call.node.port.onmessage = (e) => onWorkletMessage(call, e.data);
    const mute = ctx.createGain(); // keeps the graph pulling the worklet without playing the microphone back
    mute.gain.value = 0;
    ctx.createMediaStreamSource(call.stream).connect(call.node).connect(mute).connect(ctx.destination);
    await ctx.resume();
    if (call.hangingUp) return; // hung up while the microphone was being opened
    openSocket(call);
    loadDevices(); // labels are known once the microphone is allowed
  } catch (err) {
    stopCapture(call);
    if (call.hangingUp) return;
    state.call = null;
    setCallUi("idle", "空闲");
    notify(`无法打开麦克风：${err.message || err.name}`);
  }
}

function openSocket(call) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/call`);
  ws.binaryType = "arraybuffer";
  call.ws = ws;
  ws.onopen = () => {
    for (const data of call.pending) ws.send(data);
    call.pending = [];
  };
  ws.onmessage = (e) => {
    if (typeof e.data !== "string") return;
    let event;
    try {
      event = JSON.parse(e.data);
    } catch (_) {
      notify("服务器发来无法解析的消息");
      return;
    }
    onEvent(call, event);
  };
  ws.onclose = (e) => onSocketClose(call, e);
}

function onWorkletMessage(call, m) {
  if (m.type === "frame") {
    setLevel(m.peak);
    if (m.samples.length && !call.hungUp) callSend(call, toInt16(m.samples));
  } else if (m.type === "flushed" && call.onFlushed) {
    call.onFlushed();
  }
}

function stopCapture(call) {
  if (call.stream) for (const t of call.stream.getTracks()) t.stop();
  if (call.ctx && call.ctx.state !== "closed") call.ctx.close();
  setLevel(0);
}

async function hangup() {
  const call = state.call;
  if (!call || call.hangingUp) return;
  call.hangingUp = true;
  if (!call.ws) {
    // The microphone is still being opened: nothing was sent and no ticket exists yet.
    call.hungUp = true;
    stopCapture(call);
    state.call = null;
    setCallUi("idle", "空闲");
    return;
  }
  setCallUi("ending", "正在挂断，生成工单…");
  if (call.node) {
    // Send the last, shorter frame before the hang-up, so that no audio is lost.
    await new Promise((resolve) => {
      call.onFlushed = resolve;
      call.node.port.postMessage({ type: "flush" });
      setTimeout(resolve, 500);
    });
  }
  call.hungUp = true;
  stopCapture(call);
  callSend(call, JSON.stringify({ type: "hangup" }));
}

function onEvent(call, ev) {
  switch (ev.type) {
    case "ready":
    case "busy":
      call.id = ev.call_id;
      call.live = ev.live !== false && ev.type === "ready";
      state.ticketId = ev.call_id;
      $("#ticket-id").textContent = "#" + ev.call_id;
      showStatus("processing");
      if (!call.hangingUp) setCallUi("live", call.live ? "通话中" : "通话中（录音）");
      showMode(call.live ? "实时转写" : ev.message || "实时转写已满，挂断后生成工单", call.live ? "live" : "fallback");
      break;
    case "partial":
      transcriptTail().textContent = ev.text || "";
      break;
    case "committed":
      appendCommitted(ev.speaker, ev.text || "");
      break;
    case "ticket_update":
      applyDraft(ev.ticket);
      break;
    case "ticket_final":
      call.final = true;
      showMode("", null);
      applyStored(ev.ticket, { transcript: true });
      state.edited.clear();
      setCallUi("idle", "通话结束，工单已生成");
      save(); // the edits made during the call
      break;
    case "queued":
      call.final = true;
      call.id = ev.ticket_id;
      showMode("录音已保存，工单正在生成，完成后出现在工单列表", "fallback");
      setCallUi("idle", "通话结束，工单生成中");
      waitForTicket(ev.ticket_id);
      break;
    case "error":
      notify(ev.message || "服务器报告了一个错误");
      break;
    default:
      console.warn("unknown event", ev);
  }
}

function onSocketClose(call, e) {
  if (state.call === call) state.call = null;
  stopCapture(call);
  if (e.code === 4401) {
    location.assign("/login");
    return;
  }
  if (call.final) return;
  setCallUi("idle", "连接已断开");
  if (e.code === 4403) notify("服务器拒绝了连接（来源不符）");
  else if (call.id !== null) {
    notify(`通话连接已断开（${e.code}）：工单 #${call.id} 将根据已收到的录音生成`, "info");
    waitForTicket(call.id);
  } else notify(`无法连接到服务器（${e.code}）`);
}

function showMode(text, kind) {
  const el = $("#call-mode");
  el.textContent = text;
  el.className = "call-mode " + (kind || "");
  el.hidden = !text;
}

// The ticket of a fallback call, an upload or a broken call is drafted from its recording: poll until it is.
async function waitForTicket(id) {
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 2000));
    let t;
    try {
      t = await api(`/api/tickets/${id}`);
    } catch (err) {
      notify(err.message);
      return;
    }
    if (t.status === "processing") continue;
    if (state.ticketId === id && !state.call) {
      applyStored(t, { transcript: true });
      showMode("", null);
      setCallUi("idle", t.status === "failed" ? "工单生成失败" : "工单已生成");
    }
    if (t.status === "failed") notify(`工单 #${id} 生成失败：${t.error || ""}`);
    else notify(`工单 #${id} 已生成`, "info");
    if (!$("#view-list").hidden) loadList();
    return;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Transcript and evidence

function transcriptTail() {
  const box = $("#transcript");
  let tail = box.querySelector(".tail");
  if (!tail) {
    tail = document.createElement("span");
    tail.className = "tail";
    box.append(tail);
  }
  return tail;
}

function speakerLabel(box, speaker) {
  if (!speaker || box.dataset.speaker === speaker) return null;
  const label = document.createElement("span");
  label.className = "speaker";
  label.textContent = (SPEAKERS[speaker] || speaker) + "：";
  box.dataset.speaker = speaker;
  return label;
}

function appendCommitted(speaker, text) {
  const box = $("#transcript");
  const tail = transcriptTail();
  const label = speakerLabel(box, speaker);
  if (label) {
    if (box.querySelector(".seg")) tail.before(document.createElement("br"));
    tail.before(label);
  }
  const seg = document.createElement("span");
  seg.className = "seg";
  seg.textContent = text;
  tail.before(seg);
  tail.textContent = "";
  box.scrollTop = box.scrollHeight;
}

function renderTranscript(transcript) {
  const box = $("#transcript");
  box.replaceChildren();
  delete box.dataset.speaker;
  for (const s of (transcript && transcript.segments) || []) {
    const label = speakerLabel(box, s.speaker);
    if (label) {
      if (box.querySelector(".seg")) box.append(document.createElement("br"));
      box.append(label);
    }
    const seg = document.createElement("span");
    seg.className = "seg";
    seg.dataset.seg = s.id;
    seg.textContent = s.text;
    box.append(seg);
  }
  transcriptTail();
}

function clearMarks() {
  const box = $("#transcript");
  for (const m of box.querySelectorAll("mark")) m.replaceWith(...m.childNodes);
  box.normalize();
}

// The committed text as one string (labels and the unstable tail left out), and where each text node starts in it.
function flatText(box) {
  const nodes = [];
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (n.parentElement.closest(".speaker, .tail") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  let flat = "";
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    nodes.push({ node: n, start: flat.length });
    flat += n.data;
  }
  return { flat, nodes };
}

// Wrap the spans [start, end) of the flat text in <mark>s; overlapping spans are merged first, and the pieces are
// wrapped from the last to the first, so that splitting a text node never moves a piece still to be wrapped.
function markSpans(nodes, spans) {
  spans.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const [s, e] of spans) {
    const last = merged[merged.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else merged.push([s, e]);
  }
  const pieces = [];
  for (const [s, e] of merged) {
    for (const { node, start } of nodes) {
      const a = Math.max(s, start);
      const b = Math.min(e, start + node.data.length);
      if (a < b) pieces.push({ node, from: a - start, to: b - start });
    }
  }
  for (const { node, from, to } of pieces.reverse()) {
    const r = document.createRange();
    r.setStart(node, from);
    r.setEnd(node, to);
    r.surroundContents(document.createElement("mark"));
  }
}

// Mark the evidence of form field `name` in the transcript: by segment and character span when the transcript is
// the stored one (its segments carry ids), else every occurrence of the evidence text (the live transcript).
function highlightEvidence(name) {
  clearMarks();
  const source = EVIDENCE_OF[name] || name;
  const evidence = (state.draft && state.draft[source] && state.draft[source].evidence) || [];
  const box = $("#transcript");
  const { flat, nodes } = flatText(box);
  const spans = [];
  for (const ev of evidence) {
    if (!ev.text) continue;
    const seg = box.querySelector(`.seg[data-seg="${ev.segment_id}"]`);
    const at = seg && nodes.find((n) => n.node.parentElement === seg);
    if (at && seg.textContent.slice(ev.start_char, ev.end_char) === ev.text) {
      spans.push([at.start + ev.start_char, at.start + ev.end_char]);
      continue;
    }
    for (let i = flat.indexOf(ev.text); i >= 0; i = flat.indexOf(ev.text, i + ev.text.length)) {
      spans.push([i, i + ev.text.length]);
    }
  }
  markSpans(nodes, spans);
  const first = box.querySelector("mark");
  if (first) first.scrollIntoView({ block: "nearest" });
}
