// Stilalarm panic page (docs/PANIC_PAGE.md). No framework, no build step.
//
// A press is a hold of HOLD_MS on the button. It goes into a queue in localStorage at once
// (before any network), and is sent to alarm-web with the same press_id until it is answered
// 200 (stored on disk there); the queue survives a reload. Then the page polls the press's
// status: "ontvangen" (the console stored it), "hulp komt" (a lead acknowledged).
// Discreet on purpose: small text, no sound, no vibration, no flashing.
"use strict";

const HOLD_MS = 1500;
const BACKOFF_MS = [1000, 2000, 4000, 5000]; // then every 5 s, for as long as the page is open
const FETCH_TIMEOUT_MS = 8000; // a hung request on a bad network must not stop the retries
const POLL_FAST_MS = 1500;
const POLL_SLOW_MS = 5000;
const POLL_FAST_FOR_MS = 2 * 60 * 1000;
const POLL_FOR_MS = 60 * 60 * 1000;
const SHOW_DONE_FOR_MS = 60 * 60 * 1000; // "hulp komt" stays this long, then the page is idle again
const VISIT_KEEP_MS = 12 * 60 * 60 * 1000; // the visit's address is forgotten after this
const FIX_KEEP_MS = 5 * 60 * 1000; // a position older than this is not sent
const HINT_MS = 3000;

const KEY = {
  token: "stilalarm.token",
  queue: "stilalarm.queue",
  last: "stilalarm.last",
  visit: "stilalarm.visit",
  share: "stilalarm.share",
  who: "stilalarm.who",
};

// Every text of the page, Dutch first. {name} and {m} are filled in.
const TEXTS = {
  nl: {
    owner: "Paniekknop van {name}",
    ownerNone: "Paniekknop",
    button: "ALARM",
    holdFor: "houd 1,5 s vast",
    hint: "Houd ingedrukt",
    address: "Adres van het bezoek",
    addressPh: "straat, nummer, gemeente",
    clear: "Wis",
    share: "Deel mijn locatie bij alarm",
    locWait: "locatie zoeken…",
    locOk: "locatie gevonden (±{m} m)",
    locDenied: "locatie geweigerd: zet ze aan in de instellingen van de gsm",
    locNone: "deze gsm geeft geen locatie",
    sending: "wordt verzonden…",
    sent: "verstuurd",
    received: "ontvangen",
    coming: "hulp komt",
    badLink: "Niet verzonden: deze link werkt niet (meer). Gebruik een ander alarm en vraag IT een nieuwe link.",
    noToken: "Open deze pagina met de persoonlijke link van IT, of plak die link hier:",
    use: "Gebruik",
  },
  en: {
    owner: "Panic button of {name}",
    ownerNone: "Panic button",
    button: "ALARM",
    holdFor: "hold for 1.5 s",
    hint: "Press and hold",
    address: "Address of the visit",
    addressPh: "street, number, town",
    clear: "Clear",
    share: "Share my location with an alarm",
    locWait: "finding location…",
    locOk: "location found (±{m} m)",
    locDenied: "location refused: allow it in the phone's settings",
    locNone: "this phone gives no location",
    sending: "sending…",
    sent: "sent",
    received: "received",
    coming: "help is coming",
    badLink: "Not sent: this link does not work (any more). Use another alarm and ask IT for a new link.",
    noToken: "Open this page with the personal link from IT, or paste that link here:",
    use: "Use",
  },
};

const $ = (id) => document.getElementById(id);
const ui = {
  lang: "nl",
  hint: "",
  locState: "",
  badLink: false,
};

function t(key, vars) {
  const s = (TEXTS[ui.lang] || TEXTS.nl)[key] || TEXTS.nl[key] || key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? String(vars[k]) : ""));
}

// ---- storage -------------------------------------------------------------------------------
function load(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch (e) {
    return fallback;
  }
}
function save(key, value) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch (e) {
    return false; // storage full or blocked
  }
}

let memQueue = null; // the queue while localStorage refuses to store it (the press still goes out)
function loadQueue() {
  if (memQueue) return memQueue;
  const q = load(KEY.queue, null);
  return Array.isArray(q) ? q : [];
}
function saveQueue(q) {
  memQueue = save(KEY.queue, q.length ? q : null) ? null : q;
}
function updateEntry(pressId, change) {
  const q = loadQueue();
  const e = q.find((x) => x.press_id === pressId);
  if (e) {
    change(e);
    saveQueue(q);
  }
  return e;
}

// ---- the token: from the link's #token=..., kept in localStorage, gone from the address bar --
const TOKEN_RE = /^[A-Za-z0-9_-]{20,128}$/;

function tokenIn(link) {
  if (link === undefined) return new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
  if (TOKEN_RE.test(link)) return link; // the token alone
  try {
    const u = new URL(link, location.href);
    return new URLSearchParams(u.hash.replace(/^#/, "")).get("token") || u.searchParams.get("token");
  } catch (e) {
    return null;
  }
}

function takeToken(link) {
  const found = tokenIn(link);
  const token = found && TOKEN_RE.test(found) ? found : null;
  if (token) {
    if (token !== localStorage.getItem(KEY.token)) save(KEY.who, null);
    localStorage.setItem(KEY.token, token);
  }
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  return localStorage.getItem(KEY.token);
}
const token = () => localStorage.getItem(KEY.token);

async function api(method, path, body) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  try {
    const headers = { Authorization: "Bearer " + token() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch("api/" + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal: ctl.signal,
    });
    let data = null;
    try {
      data = await r.json();
    } catch (e) {
      data = null;
    }
    return { status: r.status, data, retryAfter: Number(r.headers.get("Retry-After")) || 0 };
  } finally {
    clearTimeout(timer);
  }
}

// ---- language and owner ---------------------------------------------------------------------
function pickLang(siteLang) {
  if (siteLang === "en") return "en";
  const pref = (navigator.languages && navigator.languages[0]) || navigator.language || "";
  return /^en\b/i.test(pref) ? "en" : "nl";
}

async function whoami() {
  try {
    const r = await api("GET", "whoami");
    if (r.status === 200 && r.data && r.data.ok) {
      save(KEY.who, { name: r.data.name || "", language: r.data.language || "nl" });
      ui.badLink = false;
    } else if (r.status === 401 || r.status === 403) {
      ui.badLink = true;
    }
  } catch (e) {
    // offline: the cached name and language do
  }
  render();
}

// ---- location (only when the person switched it on) -----------------------------------------
// The press never waits for a position: while the toggle is on the page watches the position,
// and a press takes the newest fix it already has (at most FIX_KEEP_MS old). A press queued
// without one gets the first fix that arrives before it is sent.
let fix = null;
let watchId = null;

function startWatch() {
  if (!("geolocation" in navigator)) {
    ui.locState = "locNone";
    return render();
  }
  if (watchId !== null) return;
  ui.locState = fix ? "locOk" : "locWait";
  watchId = navigator.geolocation.watchPosition(
    (p) => {
      fix = {
        lat: p.coords.latitude,
        lon: p.coords.longitude,
        acc: p.coords.accuracy,
        at: Date.now(),
      };
      ui.locState = "locOk";
      render();
      pump();
    },
    (err) => {
      if (err.code === 1) {
        ui.locState = "locDenied";
        stopWatch(false);
      }
      render();
    },
    { enableHighAccuracy: true, maximumAge: 30000, timeout: 60000 }
  );
  render();
}
function stopWatch(forget) {
  if (watchId !== null) navigator.geolocation.clearWatch(watchId);
  watchId = null;
  if (forget) {
    fix = null;
    ui.locState = "";
  }
}
function freshFix() {
  if (!load(KEY.share, false) || !fix || Date.now() - fix.at > FIX_KEEP_MS) return null;
  return fix;
}

// ---- the visit's address ---------------------------------------------------------------------
function visitAddress() {
  const v = load(KEY.visit, null);
  if (!v || Date.now() - v.at > VISIT_KEEP_MS) return "";
  return String(v.where || "").slice(0, 120);
}

// ---- the press queue -------------------------------------------------------------------------
function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function press() {
  const entry = { press_id: newId(), where: visitAddress(), created: Date.now(), attempts: 0, next_at: 0 };
  const f = freshFix();
  if (f) Object.assign(entry, { lat: f.lat, lon: f.lon, accuracy_m: f.acc });
  const q = loadQueue();
  q.push(entry);
  saveQueue(q); // on the phone before anything is sent
  render();
  pump();
}

function bodyOf(e) {
  const b = { press_id: e.press_id, queued_s: Math.min(86400, Math.max(0, (Date.now() - e.created) / 1000)) };
  if (e.minimal) return b; // the server refused the full body once: send the press alone
  if (e.where) b.where = e.where;
  if (typeof e.lat === "number" && typeof e.lon === "number") {
    b.lat = e.lat;
    b.lon = e.lon;
    if (typeof e.accuracy_m === "number") b.accuracy_m = Math.min(100000, Math.max(0, e.accuracy_m));
  }
  return b;
}

let pumping = false;
let pumpTimer = null;

async function pump() {
  if (pumping) return;
  pumping = true;
  clearTimeout(pumpTimer);
  try {
    for (;;) {
      const due = loadQueue().filter((e) => e.next_at <= Date.now());
      if (!due.length) break;
      for (const e of due) await sendOne(e);
    }
  } finally {
    pumping = false;
    const q = loadQueue();
    if (q.length) {
      const next = Math.min(...q.map((e) => e.next_at));
      pumpTimer = setTimeout(pump, Math.max(0, next - Date.now()));
    }
    render();
  }
}

function retryLater(e, ms) {
  updateEntry(e.press_id, (x) => {
    x.attempts += 1;
    x.next_at = Date.now() + (ms || BACKOFF_MS[Math.min(x.attempts - 1, BACKOFF_MS.length - 1)]);
  });
}

async function sendOne(e) {
  const f = freshFix();
  if (f && typeof e.lat !== "number") {
    updateEntry(e.press_id, (x) => Object.assign(x, { lat: f.lat, lon: f.lon, accuracy_m: f.acc }));
    Object.assign(e, { lat: f.lat, lon: f.lon, accuracy_m: f.acc });
  }
  let r;
  try {
    r = await api("POST", "press", bodyOf(e));
  } catch (err) {
    return retryLater(e); // no network, a timeout, a dropped answer: the same press again
  }
  if (r.status === 200 && r.data && r.data.ok) {
    ui.badLink = false;
    saveQueue(loadQueue().filter((x) => x.press_id !== e.press_id));
    const last = load(KEY.last, null);
    if (!last || last.created <= e.created) {
      save(KEY.last, { press_id: e.press_id, created: e.created, sent: Date.now(), received: false, coming: false });
      poll();
    }
    return;
  }
  if (r.status === 401 || r.status === 403) {
    ui.badLink = true; // kept: a new link (token) sends it
    return retryLater(e, 30000);
  }
  if (r.status === 409) {
    // the id is another device's (a copied queue?): this press gets its own
    updateEntry(e.press_id, (x) => {
      x.press_id = newId();
      x.next_at = Date.now() + 1000;
    });
    return;
  }
  if (r.status === 413 || r.status === 422) {
    updateEntry(e.press_id, (x) => {
      x.minimal = true;
    });
    return retryLater(e, 1);
  }
  if (r.status === 429) return retryLater(e, Math.max(1, r.retryAfter) * 1000);
  return retryLater(e); // 5xx, 404 from a proxy, ...
}

// ---- the last press's status: "ontvangen", "hulp komt" ---------------------------------------
let pollTimer = null;

async function poll() {
  clearTimeout(pollTimer);
  const last = load(KEY.last, null);
  if (!last || last.coming) return render();
  const age = Date.now() - last.sent;
  if (age > POLL_FOR_MS) return render();
  try {
    const r = await api("GET", "status?press_id=" + encodeURIComponent(last.press_id));
    if (r.status === 200 && r.data && r.data.ok) {
      const now = load(KEY.last, null);
      if (now && now.press_id === last.press_id) {
        now.received = now.received || !!r.data.received;
        now.coming = now.coming || !!r.data.coming;
        save(KEY.last, now);
      }
    } else if (r.status === 404) {
      return render(); // alarm-web no longer knows it; "verstuurd" stays
    }
  } catch (e) {
    // offline: ask again
  }
  render();
  const cur = load(KEY.last, null);
  if (cur && cur.press_id === last.press_id && !cur.coming) {
    pollTimer = setTimeout(poll, age < POLL_FAST_FOR_MS ? POLL_FAST_MS : POLL_SLOW_MS);
  }
}

// ---- the hold -------------------------------------------------------------------------------
const hold = { active: false, fired: false, started: 0, timer: null, frame: 0, pointer: null };

function setRing(p) {
  $("ring").style.strokeDashoffset = String(100 - 100 * Math.max(0, Math.min(1, p)));
}

function holdStart(pointerId) {
  if (hold.active || hold.fired) return;
  hold.active = true;
  hold.pointer = pointerId;
  hold.started = performance.now();
  $("hold").dataset.holding = "1";
  ui.hint = "";
  render();
  hold.timer = setTimeout(holdDone, HOLD_MS);
  const step = () => {
    if (!hold.active) return;
    setRing((performance.now() - hold.started) / HOLD_MS);
    hold.frame = requestAnimationFrame(step);
  };
  hold.frame = requestAnimationFrame(step);
}

function holdDone() {
  hold.active = false;
  hold.fired = true; // the next hold needs a release first
  cancelAnimationFrame(hold.frame);
  setRing(1);
  $("hold").dataset.holding = "0";
  press();
}

function holdEnd() {
  if (hold.fired) {
    hold.fired = false;
    hold.pointer = null;
    setRing(0);
    return;
  }
  if (!hold.active) return;
  hold.active = false;
  hold.pointer = null;
  clearTimeout(hold.timer);
  cancelAnimationFrame(hold.frame);
  setRing(0);
  $("hold").dataset.holding = "0";
  showHint();
}

let hintTimer = null;
function showHint() {
  ui.hint = t("hint");
  render();
  clearTimeout(hintTimer);
  hintTimer = setTimeout(() => {
    ui.hint = "";
    render();
  }, HINT_MS);
}

function bindButton() {
  const b = $("alarm");
  b.addEventListener("pointerdown", (ev) => {
    if (ev.pointerType === "mouse" && ev.button !== 0) return;
    if (hold.pointer !== null && hold.pointer !== ev.pointerId) return; // a second finger
    ev.preventDefault();
    try {
      b.setPointerCapture(ev.pointerId);
    } catch (e) {
      // some browsers refuse capture for synthetic pointers; the up still reaches the button
    }
    holdStart(ev.pointerId);
  });
  const end = (ev) => {
    if (hold.pointer === null || ev.pointerId === hold.pointer) holdEnd();
  };
  b.addEventListener("pointerup", end);
  b.addEventListener("pointercancel", end);
  b.addEventListener("lostpointercapture", end);
  b.addEventListener("contextmenu", (ev) => ev.preventDefault());
  b.addEventListener("keydown", (ev) => {
    if ((ev.key === " " || ev.key === "Enter") && !ev.repeat) {
      ev.preventDefault();
      holdStart("key");
    }
  });
  b.addEventListener("keyup", (ev) => {
    if (ev.key === " " || ev.key === "Enter") holdEnd();
  });
  b.addEventListener("blur", () => hold.pointer === "key" && holdEnd());
}

// ---- the screen -----------------------------------------------------------------------------
function statusNow() {
  if (ui.badLink) return "error";
  if (loadQueue().length) return "sending";
  const last = load(KEY.last, null);
  if (!last || Date.now() - last.sent > SHOW_DONE_FOR_MS) return "idle";
  return last.coming ? "coming" : last.received ? "received" : "sent";
}

function render() {
  const who = load(KEY.who, null);
  ui.lang = pickLang(who && who.language);
  document.documentElement.lang = ui.lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  $("owner").textContent = who && who.name ? t("owner", { name: who.name }) : t("ownerNone");
  $("where").placeholder = t("addressPh");
  $("hint").textContent = ui.hint;
  const state = statusNow();
  const st = $("status");
  st.dataset.state = state;
  st.textContent = state === "idle" ? "" : state === "error" ? t("badLink") : t(state);
  const shareOn = !!load(KEY.share, false);
  $("share").checked = shareOn;
  $("loc").textContent = shareOn && ui.locState ? t(ui.locState, { m: fix ? Math.round(fix.acc) : "" }) : "";
  const hasToken = !!token();
  $("setup").hidden = hasToken;
  $("alarm").disabled = !hasToken;
}

function bindForm() {
  const where = $("where");
  where.value = visitAddress();
  where.addEventListener("input", () => save(KEY.visit, { where: where.value.slice(0, 120), at: Date.now() }));
  $("clear").addEventListener("click", () => {
    where.value = "";
    save(KEY.visit, null);
  });
  $("share").addEventListener("change", (ev) => {
    save(KEY.share, ev.target.checked);
    if (ev.target.checked) startWatch();
    else stopWatch(true);
    render();
  });
  $("setup-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (takeToken($("link").value.trim())) {
      $("link").value = "";
      whoami();
      pump();
    }
    render();
  });
}

function main() {
  takeToken();
  bindButton();
  bindForm();
  render();
  if (load(KEY.share, false)) startWatch();
  if (token()) whoami();
  pump();
  poll();
  window.addEventListener("online", () => {
    saveQueue(loadQueue().map((e) => Object.assign(e, { next_at: 0 })));
    pump();
    poll();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      pump();
      poll();
    }
  });
  window.addEventListener("storage", render);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
}

main();
