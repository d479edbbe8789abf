// Stilalarm panic page: the press queue and the API (docs/PANIC_PAGE.md).
//
// A press goes into a queue in localStorage at once (before any network) and is sent to alarm-web
// with the same press_id until it is answered 200 (stored on disk there); the queue survives a
// reload. Then the page polls the last press's status: "ontvangen" (the console stored it),
// "niemand bereikbaar" (nobody on the escalation can be reached: call 101 yourself), "hulp komt"
// (a lead acknowledged). What the screen makes of it is app.js's business: it sets
// `hooks` and reads the state through `statusNow`.

const BACKOFF_MS = [1000, 2000, 4000, 5000]; // then every 5 s, for as long as the page is open
const FETCH_TIMEOUT_MS = 8000; // a hung request on a bad network must not stop the retries
const POLL_FAST_MS = 1500;
const POLL_SLOW_MS = 5000;
const POLL_FAST_FOR_MS = 2 * 60 * 1000;
const POLL_FOR_MS = 60 * 60 * 1000;
const SHOW_DONE_FOR_MS = 60 * 60 * 1000; // "hulp komt" stays this long, then the page is idle again

export const KEY = {
  token: "stilalarm.token",
  queue: "stilalarm.queue",
  last: "stilalarm.last",
  visit: "stilalarm.visit",
  share: "stilalarm.share",
  who: "stilalarm.who",
};

/** What the screen supplies: a redraw, and the position to send (or null). */
export const hooks = { changed: () => {}, fix: () => null };

/** Whether the token was refused (401/403): the screen says the alarm does not go out. */
export const link = { bad: false };

// ---- storage -------------------------------------------------------------------------------
export function load(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch (e) {
    return fallback;
  }
}
export function save(key, value) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch (e) {
    return false; // storage full or blocked
  }
}

let memQueue = null; // the queue while localStorage refuses to store it (the press still goes out)
export function loadQueue() {
  if (memQueue) return memQueue;
  const q = load(KEY.queue, null);
  return Array.isArray(q) ? q : [];
}
export function saveQueue(q) {
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

function tokenIn(url) {
  if (url === undefined) return new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
  if (TOKEN_RE.test(url)) return url; // the token alone
  try {
    const u = new URL(url, location.href);
    return new URLSearchParams(u.hash.replace(/^#/, "")).get("token") || u.searchParams.get("token");
  } catch (e) {
    return null;
  }
}

/** The token from the page's own #token=... (or a pasted link), kept; the fragment removed. */
export function takeToken(url) {
  const found = tokenIn(url);
  if (found && TOKEN_RE.test(found)) {
    if (found !== localStorage.getItem(KEY.token)) save(KEY.who, null);
    localStorage.setItem(KEY.token, found);
  }
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  return localStorage.getItem(KEY.token);
}
export const token = () => localStorage.getItem(KEY.token);

export async function api(method, path, body) {
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

// ---- the press queue -------------------------------------------------------------------------
function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A new press with the visit's address: queued on the phone first, then sent. */
export function press(where) {
  const entry = { press_id: newId(), where, created: Date.now(), attempts: 0, next_at: 0 };
  const f = hooks.fix();
  if (f) Object.assign(entry, { lat: f.lat, lon: f.lon, accuracy_m: f.acc });
  const q = loadQueue();
  q.push(entry);
  saveQueue(q); // on the phone before anything is sent
  hooks.changed();
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

export async function pump() {
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
    hooks.changed();
  }
}

function retryLater(e, ms) {
  updateEntry(e.press_id, (x) => {
    x.attempts += 1;
    x.next_at = Date.now() + (ms || BACKOFF_MS[Math.min(x.attempts - 1, BACKOFF_MS.length - 1)]);
  });
}

async function sendOne(e) {
  const f = hooks.fix();
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
    link.bad = false;
    saveQueue(loadQueue().filter((x) => x.press_id !== e.press_id));
    const last = load(KEY.last, null);
    if (!last || last.created <= e.created) {
      save(KEY.last, { press_id: e.press_id, created: e.created, sent: Date.now(), received: false, coming: false });
      poll();
    }
    return;
  }
  if (r.status === 401 || r.status === 403) {
    link.bad = true; // kept: a new link (token) sends it
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

export async function poll() {
  clearTimeout(pollTimer);
  const last = load(KEY.last, null);
  if (!last || last.coming) return hooks.changed();
  const age = Date.now() - last.sent;
  if (age > POLL_FOR_MS) return hooks.changed();
  try {
    const r = await api("GET", "status?press_id=" + encodeURIComponent(last.press_id));
    if (r.status === 200 && r.data && r.data.ok) {
      const now = load(KEY.last, null);
      if (now && now.press_id === last.press_id) {
        now.received = now.received || !!r.data.received;
        now.coming = now.coming || !!r.data.coming;
        now.nobody = !now.coming && !!r.data.nobody_reachable; // until someone acknowledges after all
        save(KEY.last, now);
      }
    } else if (r.status === 404) {
      return hooks.changed(); // alarm-web no longer knows it; "verstuurd" stays
    }
  } catch (e) {
    // offline: ask again
  }
  hooks.changed();
  const cur = load(KEY.last, null);
  if (cur && cur.press_id === last.press_id && !cur.coming) {
    pollTimer = setTimeout(poll, age < POLL_FAST_FOR_MS ? POLL_FAST_MS : POLL_SLOW_MS);
  }
}

/** Send every queued press now and ask for the status (the phone is back online). */
export function retryNow() {
  saveQueue(loadQueue().map((e) => Object.assign(e, { next_at: 0 })));
  pump();
  poll();
}

/** What the status line says: idle, sending, sent, received, nobody (nobody reachable: call 101
 * yourself), coming, or error (bad link). */
export function statusNow() {
  if (link.bad) return "error";
  if (loadQueue().length) return "sending";
  const last = load(KEY.last, null);
  if (!last || Date.now() - last.sent > SHOW_DONE_FOR_MS) return "idle";
  if (last.coming) return "coming";
  if (last.nobody) return "nobody";
  return last.received ? "received" : "sent";
}
