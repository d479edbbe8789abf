// Stilalarm panic page (docs/PANIC_PAGE.md). No framework, no build step.
//
// The screen: the texts, the hold (HOLD_MS, a ring; a tap only hints), the visit's address, the
// location switch, the status line. The queue and the API are in queue.js.
// Discreet on purpose: small text, no sound, no vibration, no flashing.

import {
  KEY,
  api,
  hooks,
  link,
  load,
  poll,
  press,
  pump,
  retryNow,
  save,
  statusNow,
  takeToken,
  token,
} from "./queue.js";

const HOLD_MS = 1500;
const VISIT_KEEP_MS = 12 * 60 * 60 * 1000; // the visit's address is forgotten after this
const FIX_KEEP_MS = 5 * 60 * 1000; // a position older than this is not sent
const HINT_MS = 3000;

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
    visits: "Huisbezoek melden of afmelden",
    register: "Agressie melden (ook zonder alarm)",
    risks: "Risicogesprek aanmelden of bevestigen",
    locWait: "locatie zoeken…",
    locOk: "locatie gevonden (±{m} m)",
    locDenied: "locatie geweigerd: zet ze aan in de instellingen van de gsm",
    locNone: "deze gsm geeft geen locatie",
    sending: "wordt verzonden…",
    sent: "verstuurd",
    received: "ontvangen",
    coming: "hulp komt",
    nobody: "Niemand bereikbaar. Bel zelf 101.",
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
    visits: "Register or end a home visit",
    register: "Report aggression (also without an alarm)",
    risks: "Announce or confirm a risky conversation",
    locWait: "finding location…",
    locOk: "location found (±{m} m)",
    locDenied: "location refused: allow it in the phone's settings",
    locNone: "this phone gives no location",
    sending: "sending…",
    sent: "sent",
    received: "received",
    coming: "help is coming",
    nobody: "Nobody reachable. Call 101 yourself.",
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
};

function t(key, vars) {
  const s = (TEXTS[ui.lang] || TEXTS.nl)[key] || TEXTS.nl[key] || key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? String(vars[k]) : ""));
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
      link.bad = false;
    } else if (r.status === 401 || r.status === 403) {
      link.bad = true;
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
  press(visitAddress());
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
  hooks.changed = render;
  hooks.fix = freshFix;
  takeToken();
  bindButton();
  bindForm();
  render();
  if (load(KEY.share, false)) startWatch();
  if (token()) whoami();
  pump();
  poll();
  window.addEventListener("online", retryNow);
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
