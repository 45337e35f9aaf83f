// The Gambi room page: one room's participants, live request feed and leaderboard, read
// from the hub's public routes. Plain JavaScript, no dependencies, no build step.
//
// Everything the hub sends goes into the page as text (textContent), never as markup:
// names and models can hold anything. A protected room's password is asked once, kept in
// this script's memory only, and sent only as `Authorization: Bearer` on the event stream.
// That is why the stream is read with fetch and a stream reader rather than EventSource,
// which cannot send headers and would need the password in the address.

const FEED_LIMIT = 60; // rows kept in the request feed
const SAMPLE_LIMIT = 200; // latest samples per participant the leaderboard is made of
const REFRESH_MS = 10_000; // participant list refresh, for heartbeats and missed events
const RECONNECT_FIRST_MS = 1_000;
const RECONNECT_MAX_MS = 15_000;
const STABLE_MS = 10_000; // a connection that lasted this long resets the backoff
const MAX_LINE = 1 << 20; // an event line longer than this ends the connection

const body = document.body;
const code = body.dataset.room;
const keepAliveMs = Number(body.dataset.keepAliveMs) || 15_000;
const roomPath = `/v1/rooms/${encodeURIComponent(code)}`;

const state = {
  password: null,
  askedForPassword: body.dataset.protected === "true",
  watching: false,
  participants: new Map(),
  requests: new Map(), // request id -> row; insertion order is arrival order
  stats: new Map(), // participant id -> leaderboard samples
  renderPending: false,
  refreshTimer: null,
};

const $ = (id) => document.getElementById(id);

// ---- small DOM helpers (text only) ----

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function cell(text, className) {
  return el("td", className, text);
}

// ---- formatting ----

function formatMs(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "–";
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function formatRate(rate) {
  if (typeof rate !== "number" || !Number.isFinite(rate)) return "–";
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}

function formatCount(count) {
  return typeof count === "number" && Number.isFinite(count) ? String(count) : "–";
}

function formatTime(timestamp) {
  const date = new Date(typeof timestamp === "number" ? timestamp : Date.now());
  return date.toLocaleTimeString([], { hour12: false });
}

function formatGiB(size) {
  if (typeof size !== "number" || !Number.isFinite(size)) return null;
  return `${Number.isInteger(size) ? size : size.toFixed(1)} GB`;
}

function specsText(specs) {
  if (!specs || typeof specs !== "object") return "specs not shared";
  const parts = [];
  const vram = formatGiB(specs.vram);
  if (typeof specs.gpu === "string" && specs.gpu) parts.push(vram ? `${specs.gpu} ${vram}` : specs.gpu);
  else if (vram) parts.push(`${vram} VRAM`);
  const ram = formatGiB(specs.ram);
  if (ram) parts.push(`${ram} RAM`);
  if (typeof specs.cpu === "string" && specs.cpu) parts.push(specs.cpu);
  return parts.length ? parts.join(" · ") : "specs not shared";
}

function median(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function mean(values) {
  return values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : null;
}

// ---- rendering ----

function scheduleRender() {
  if (state.renderPending) return;
  state.renderPending = true;
  requestAnimationFrame(() => {
    state.renderPending = false;
    renderParticipants();
    renderLeaderboard();
    renderFeed();
  });
}

function nameOf(id) {
  const participant = state.participants.get(id);
  return participant && typeof participant.nickname === "string" && participant.nickname
    ? participant.nickname
    : id;
}

const STATUS_LABELS = { online: "online", busy: "busy", offline: "offline" };

function renderParticipants() {
  const list = $("participants");
  const participants = [...state.participants.values()];
  const cards = participants.map((participant) => {
    const status = STATUS_LABELS[participant.status] ?? "offline";
    const card = el("li", "card");
    card.dataset.participant = String(participant.id);
    card.dataset.status = status;

    const head = el("div", "card-head");
    head.append(el("span", "dot"), el("span", "name", participant.nickname || participant.id));
    head.append(el("span", "status", status));
    card.append(head);
    if (participant.nickname && participant.nickname !== participant.id) {
      card.append(el("div", "id", participant.id));
    }
    card.append(el("div", "model", participant.model));

    const active = Number(participant.activeRequests) || 0;
    const slots = Math.max(Number(participant.maxConcurrency) || 1, 1);
    const load = el("div", "slots");
    const meter = el("span", "meter");
    const fill = el("span", "meter-fill");
    fill.style.width = `${Math.min(100, (100 * active) / slots)}%`;
    meter.append(fill);
    load.append(meter, el("span", "slots-text", `${active}/${slots} slots`));
    card.append(load);

    const connected = participant.connection && participant.connection.connected === true;
    card.append(el("div", "tunnel", connected ? "tunnel up" : "tunnel down"));
    card.append(el("div", "specs", specsText(participant.specs)));
    return card;
  });
  list.replaceChildren(...cards);
  $("no-participants").hidden = cards.length > 0;
  const online = participants.filter((participant) => participant.status !== "offline").length;
  $("participant-count").textContent = cards.length ? `${online} of ${cards.length} online` : "";
}

function renderLeaderboard() {
  const rows = [...state.stats.entries()].map(([id, stats]) => ({
    id,
    requests: stats.requests,
    ttft: median(stats.ttfts),
    rate: mean(stats.rates),
    tokens: stats.outputTokens,
  }));
  rows.sort(
    (a, b) =>
      (b.rate ?? -1) - (a.rate ?? -1) ||
      (a.ttft ?? Infinity) - (b.ttft ?? Infinity) ||
      b.requests - a.requests,
  );
  const tbody = $("leaderboard").tBodies[0];
  tbody.replaceChildren(
    ...rows.map((row, index) => {
      const tr = el("tr");
      tr.dataset.participant = row.id;
      tr.append(
        cell(index + 1, "rank"),
        cell(nameOf(row.id), "name"),
        cell(row.requests, "num"),
        cell(formatMs(row.ttft), "num ttft"),
        cell(formatRate(row.rate), "num rate"),
        cell(row.tokens, "num"),
      );
      return tr;
    }),
  );
  $("no-leaders").hidden = rows.length > 0;
}

const STATUS_TEXT = {
  running: "running",
  done: "done",
  error: "error",
  cancelled: "cancelled",
  notice: "notice",
};

function renderFeed() {
  const rows = [...state.requests.values()].reverse().flatMap((request) => {
    const tr = el("tr");
    tr.dataset.status = request.status;
    if (request.id) tr.dataset.request = request.id;
    tr.append(cell(formatTime(request.timestamp), "time"));
    tr.append(cell(STATUS_TEXT[request.status] ?? request.status, "status"));
    if (request.status === "notice") {
      const text = cell(request.text, "notice-text");
      text.colSpan = 6;
      tr.append(text);
      return [tr];
    }
    const participant = request.participant ? nameOf(request.participant) : "–";
    const who = cell(participant, "participant clip");
    who.title = participant;
    const model = cell(request.model, "model clip");
    model.title = request.model ?? "";
    tr.append(
      who,
      model,
      cell(formatMs(request.ttft), "num"),
      cell(formatMs(request.duration), "num"),
      cell(formatCount(request.tokens), "num"),
      cell(formatRate(request.rate), "num"),
    );
    if (!request.error) return [tr];
    // What failed gets a line of its own under the request.
    const detail = el("tr", "detail");
    detail.dataset.status = request.status;
    const text = cell(request.error, "error-text");
    text.colSpan = 8;
    detail.append(text);
    return [tr, detail];
  });
  $("feed").tBodies[0].replaceChildren(...rows);
  $("no-requests").hidden = rows.length > 0;
}

function setStreamState(name, text) {
  const node = $("stream-state");
  node.dataset.state = name;
  node.textContent = text;
}

// ---- the room and its participants ----

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
  if (response.status === 404) return { missing: true };
  if (!response.ok) throw new Error(`the hub answered ${response.status}`);
  const envelope = await response.json();
  return { data: envelope.data };
}

async function loadRoom() {
  try {
    const { data, missing } = await getJson(roomPath);
    if (missing) return roomGone();
    if (data && typeof data.name === "string") {
      $("room-name").textContent = data.name;
      document.title = `${data.name} (${code}) · Gambi`;
    }
    if (data && data.passwordProtected === true) state.askedForPassword = true;
  } catch {
    // The participant refresh and the event stream say whether the hub answers.
  }
}

async function refreshParticipants() {
  try {
    const { data, missing } = await getJson(`${roomPath}/participants`);
    if (missing) return roomGone();
    if (!Array.isArray(data)) return;
    state.participants = new Map(
      data.filter((participant) => participant && participant.id).map((participant) => [String(participant.id), participant]),
    );
    scheduleRender();
  } catch {
    // Kept as last seen; the next refresh tries again.
  }
}

function refreshSoon() {
  if (state.refreshTimer !== null) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    refreshParticipants();
  }, 250);
}

function roomGone() {
  setStreamState("gone", "room not found");
}

// ---- events ----

function requestRow(id) {
  let row = state.requests.get(id);
  if (!row) {
    row = { id, status: "running" };
    state.requests.set(id, row);
    while (state.requests.size > FEED_LIMIT) {
      state.requests.delete(state.requests.keys().next().value);
    }
  }
  return row;
}

let notices = 0;
function addNotice(timestamp, text) {
  notices += 1;
  state.requests.set(`notice-${notices}`, { status: "notice", timestamp, text });
  while (state.requests.size > FEED_LIMIT) {
    state.requests.delete(state.requests.keys().next().value);
  }
}

function statsOf(id) {
  let stats = state.stats.get(id);
  if (!stats) {
    stats = { requests: 0, ttfts: [], rates: [], outputTokens: 0 };
    state.stats.set(id, stats);
  }
  return stats;
}

function pushSample(samples, value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return;
  samples.push(value);
  if (samples.length > SAMPLE_LIMIT) samples.shift();
}

function applyMetrics(row, metrics) {
  if (!metrics || typeof metrics !== "object") return;
  row.ttft = metrics.ttftMs;
  row.duration = metrics.durationMs;
  row.tokens = metrics.outputTokens;
  row.rate = metrics.tokensPerSecond;
}

function onEvent(event) {
  if (!event || typeof event !== "object") return;
  const data = event.data && typeof event.data === "object" ? event.data : {};
  switch (event.type) {
    case "connected": {
      // Counted, so that a reconnection shows (and a test can wait for one).
      const node = $("stream-state");
      node.dataset.connects = String((Number(node.dataset.connects) || 0) + 1);
      setStreamState("live", "live");
      refreshParticipants();
      return;
    }
    case "participant.joined":
    case "participant.updated":
      if (data.id) state.participants.set(String(data.id), data);
      break;
    case "participant.left":
      state.participants.delete(String(data.participantId));
      break;
    case "participant.offline": {
      const participant = state.participants.get(String(data.participantId));
      if (participant) {
        participant.status = "offline";
        participant.connection = { ...participant.connection, connected: false };
      }
      break;
    }
    case "llm.request": {
      if (!data.requestId) return;
      const row = requestRow(String(data.requestId));
      Object.assign(row, { status: "running", timestamp: event.timestamp, participant: data.participantId, model: data.model });
      break;
    }
    case "llm.complete": {
      if (!data.requestId) return;
      const row = requestRow(String(data.requestId));
      row.timestamp ??= event.timestamp;
      Object.assign(row, { status: "done", participant: data.participantId, model: data.model, error: null });
      applyMetrics(row, data.metrics);
      if (data.participantId) {
        const stats = statsOf(String(data.participantId));
        const metrics = data.metrics || {};
        stats.requests += 1;
        pushSample(stats.ttfts, metrics.ttftMs);
        pushSample(stats.rates, metrics.tokensPerSecond);
        if (Number.isFinite(metrics.outputTokens)) stats.outputTokens += metrics.outputTokens;
      }
      break;
    }
    case "llm.error": {
      if (!data.requestId) return;
      const row = requestRow(String(data.requestId));
      row.timestamp ??= event.timestamp;
      Object.assign(row, {
        status: data.stage === "cancelled" ? "cancelled" : "error",
        participant: data.participantId ?? row.participant,
        model: data.model ?? row.model,
        error: typeof data.error === "string" ? data.error : "failed",
      });
      applyMetrics(row, data.metrics);
      break;
    }
    case "lagged":
      addNotice(event.timestamp, `This page fell behind and missed ${formatCount(data.skipped)} events.`);
      refreshSoon();
      break;
    default:
      return;
  }
  if (event.type.startsWith("llm.")) refreshSoon();
  scheduleRender();
}

// Reads server-sent events from a text stream: `data:` lines, one event per blank line;
// comments (the hub's keep-alives) and other fields are skipped (each event's JSON names
// its type). An event larger than MAX_LINE ends the connection.
class EventParser {
  constructor(dispatch) {
    this.dispatch = dispatch;
    this.buffer = "";
    this.data = [];
    this.size = 0;
  }

  push(text) {
    this.buffer += text;
    let end;
    while ((end = this.buffer.indexOf("\n")) >= 0) {
      let line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      this.line(line);
    }
    if (this.buffer.length + this.size > MAX_LINE) throw new Error("an event is too large");
  }

  line(line) {
    if (line === "") {
      if (this.data.length === 0) return;
      const text = this.data.join("\n");
      this.data = [];
      this.size = 0;
      let event;
      try {
        event = JSON.parse(text);
      } catch (error) {
        console.warn("skipped an event that is not JSON", error);
        return;
      }
      this.dispatch(event);
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      this.data.push(value);
      this.size += value.length;
    }
  }
}

// One connection to the room's event stream, until it ends. Resolves with why it ended:
// "unauthorized", "gone" or "ended"; rejects when the connection fails.
async function readEvents() {
  const controller = new AbortController();
  let lastActivity = Date.now();
  const watchdog = setInterval(() => {
    // The hub sends a keep-alive after each quiet interval: silence means a dead link.
    if (Date.now() - lastActivity > 2 * keepAliveMs + 5_000) controller.abort();
  }, 1_000);
  try {
    const headers = { Accept: "text/event-stream" };
    if (state.password !== null) headers.Authorization = `Bearer ${state.password}`;
    const response = await fetch(`${roomPath}/events`, {
      headers,
      cache: "no-store",
      signal: controller.signal,
    });
    if (response.status === 401) return "unauthorized";
    if (response.status === 404) return "gone";
    if (!response.ok || !response.body) throw new Error(`the hub answered ${response.status}`);
    const parser = new EventParser(onEvent);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "ended";
      lastActivity = Date.now();
      parser.push(value);
    }
  } finally {
    clearInterval(watchdog);
    controller.abort();
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Keeps the event stream open, reconnecting with backoff when it drops, until the room is
// gone or its password is needed.
async function watch() {
  if (state.watching) return;
  state.watching = true;
  let delay = RECONNECT_FIRST_MS;
  try {
    for (;;) {
      if (state.askedForPassword && state.password === null) {
        askForPassword("");
        return;
      }
      const started = Date.now();
      let outcome;
      try {
        outcome = await readEvents();
      } catch {
        outcome = "dropped";
      }
      if (outcome === "unauthorized") {
        const hadOne = state.password !== null;
        state.password = null;
        state.askedForPassword = true;
        askForPassword(hadOne ? "That password is not this room's. Try again." : "");
        return;
      }
      if (outcome === "gone") {
        roomGone();
        return;
      }
      if (Date.now() - started > STABLE_MS) delay = RECONNECT_FIRST_MS;
      const wait = delay / 2 + Math.random() * (delay / 2);
      setStreamState("reconnecting", "reconnecting");
      await sleep(wait);
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
      setStreamState("connecting", "connecting");
    }
  } finally {
    state.watching = false;
  }
}

// ---- the password ----

function askForPassword(error) {
  setStreamState("password", "password needed");
  $("password-panel").hidden = false;
  const message = $("password-error");
  message.textContent = error;
  message.hidden = !error;
  $("password-input").focus();
}

$("password-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("password-input");
  const password = input.value;
  if (!password) return;
  input.value = "";
  state.password = password;
  $("password-panel").hidden = true;
  setStreamState("connecting", "connecting");
  watch();
});

// ---- large type and copying ----

function setLargeType(on) {
  body.classList.toggle("large", on);
  $("large-type").setAttribute("aria-pressed", String(on));
}

$("large-type").addEventListener("click", () => {
  const on = !body.classList.contains("large");
  setLargeType(on);
  try {
    localStorage.setItem("gambi.largeType", on ? "1" : "0");
  } catch {
    // Storage may be off; the toggle still works for this page.
  }
});

$("copy-join").addEventListener("click", async () => {
  const button = $("copy-join");
  const text = $("join-command").textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    // No clipboard outside secure contexts (plain http on a LAN): select it instead.
    const range = document.createRange();
    range.selectNodeContents($("join-command"));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: copy it";
  }
  setTimeout(() => {
    button.textContent = "Copy";
  }, 2_000);
});

// The join command wraps between its arguments, never inside one (browsers would break
// `--room` after a hyphen). Its text stays exactly the command.
function groupJoinCommand() {
  const command = $("join-command");
  const groups = [];
  for (const word of command.textContent.split(" ")) {
    if (groups.length === 0 || word.startsWith("--")) groups.push([word]);
    else groups[groups.length - 1].push(word);
  }
  const nodes = [];
  groups.forEach((words, index) => {
    if (index > 0) nodes.push(document.createTextNode(" "));
    nodes.push(el("span", "arg", words.join(" ")));
  });
  command.replaceChildren(...nodes);
}

// ---- start ----

groupJoinCommand();

{
  const asked = new URLSearchParams(location.search).get("large");
  let stored = null;
  try {
    stored = localStorage.getItem("gambi.largeType");
  } catch {
    // As above.
  }
  setLargeType(asked !== null ? asked !== "0" : stored === "1");
}
scheduleRender();
refreshParticipants();
setInterval(refreshParticipants, REFRESH_MS);
loadRoom().then(() => watch());
