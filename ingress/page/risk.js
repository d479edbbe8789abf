// The risky-conversation page (risicogesprek): announce one (room, window, stand-by colleague),
// confirm as the stand-by colleague, cancel. The token comes from the link (#token=...) or the panic
// page on this phone. A command that gets no answer from the alarm console (503, no network) is sent
// again with the same id until it is answered: the console counts it once.
"use strict";
(function () {
  const RULE_NL = "Risicovolle gesprekken mogen uitsluitend tijdens de normale openingsuren gepland worden of bij aanwezigheid van andere collega's.";
  const T = {
    nl: {
      title: "Risicogesprek", room: "Lokaal", day: "Datum", from: "Van", until: "Tot", standby: "Stand-by collega",
      standbyHint: "Volgt het gesprek vanuit de gang of een aangrenzend lokaal; krijgt een alarm uit dit lokaal meteen.",
      present: "Er zijn andere collega's in het gebouw", go: "Aanmelden", confirmH: "Ik sta stand-by",
      confirmId: "Nummer van het gesprek (uit je melding)", confirm: "Bevestigen", mine: "Mijn gesprekken",
      cancel: "Annuleren", who: "Aangemeld als {name}.", sending: "Versturen…",
      retrying: "Nog geen antwoord van de alarmcentrale; opnieuw versturen…", late: "Buiten de openingsuren. " + RULE_NL,
      noToken: "Deze pagina heeft geen geldige link. Open de link die je van IT kreeg.", cancelled: "geannuleerd",
    },
    en: {
      title: "Risky conversation", room: "Room", day: "Date", from: "From", until: "Until", standby: "Stand-by colleague",
      standbyHint: "Follows the conversation from the hall or an adjacent room; gets an alarm from this room at once.",
      present: "Other colleagues are in the building", go: "Announce", confirmH: "I stand by",
      confirmId: "The conversation's number (from your notice)", confirm: "Confirm", mine: "My conversations",
      cancel: "Cancel", who: "Signed in as {name}.", sending: "Sending…",
      retrying: "No answer from the alarm console yet; sending again…",
      late: "Outside office hours. Risky conversations may only be planned during normal office hours or when other colleagues are present.",
      noToken: "This page has no valid link. Open the link IT gave you.", cancelled: "cancelled",
    },
  };
  let lang = "nl";
  let info = null;
  const $ = (id) => document.getElementById(id);
  const say = (key, v) => (T[lang][key] || T.nl[key]).replace(/\{(\w+)\}/g, (_, k) => (v && v[k]) || "");
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.get("token")) {
    localStorage.setItem("stilalarm.visit.token", frag.get("token"));
    history.replaceState(null, "", location.pathname);
  }
  const token = localStorage.getItem("stilalarm.visit.token") || localStorage.getItem("stilalarm.token");
  const mine = () => JSON.parse(localStorage.getItem("stilalarm.risk.mine") || "[]");

  function status(kind, text) { const s = $("status"); s.className = kind; s.textContent = text; }

  async function call(method, path, body) {
    const r = await fetch(path, {
      method,
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    let data = {};
    try { data = await r.json(); } catch (_) { /* not JSON: treated as no answer */ }
    return { status: r.status, data };
  }

  async function persist(method, path, body) {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await call(method, path, body);
        if (r.status !== 503 && r.status !== 429) return r;
      } catch (_) { /* offline: retry */ }
      status("wait", say("retrying"));
      await new Promise((ok) => setTimeout(ok, Math.min(2000 + attempt * 500, 10000)));
    }
  }

  const pad = (n) => String(n).padStart(2, "0");
  function at(time) {
    const [y, mo, d] = $("day").value.split("-").map(Number);
    const [h, m] = time.split(":").map(Number);
    return new Date(y, mo - 1, d, h, m, 0, 0);
  }
  function open(d) {
    if (!info) return true;
    const day = d.getDay() === 0 ? 7 : d.getDay();
    const iso = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
    const mins = d.getHours() * 60 + d.getMinutes();
    const [sh, sm] = info.office_start.split(":").map(Number);
    const [eh, em] = info.office_end.split(":").map(Number);
    return info.office_weekdays.includes(day) && !info.closed_days.includes(iso) && mins >= sh * 60 + sm && mins <= eh * 60 + em;
  }
  function late() {
    const ok = !$("from").value || !$("until").value || $("present").checked ||
      (open(at($("from").value)) && open(at($("until").value)));
    $("late").hidden = ok;
    $("late").textContent = ok ? "" : say("late");
  }
  function newId() {
    const d = new Date();
    const rnd = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");
    return "r-" + d.getFullYear() + pad(d.getMonth() + 1) + pad(d.getDate()) + "-" + rnd;
  }
  function hhmm(iso) { const d = new Date(iso); return pad(d.getDate()) + "/" + pad(d.getMonth() + 1) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()); }

  function draw() {
    const list = $("list");
    list.textContent = "";
    for (const r of mine().slice().reverse()) {
      const li = document.createElement("li");
      const txt = document.createElement("div");
      txt.textContent = r.risk_id + " · " + hhmm(r.starts_at) + "–" + hhmm(r.ends_at).slice(6) + (r.cancelled ? " — " + say("cancelled") : "");
      li.appendChild(txt);
      if (!r.cancelled && new Date(r.ends_at) > new Date()) {
        const b = document.createElement("button");
        b.className = "cancel";
        b.textContent = say("cancel");
        b.onclick = () => act(r.risk_id, "cancel", b);
        li.appendChild(b);
      }
      list.appendChild(li);
    }
  }

  async function load() {
    const r = await persist("GET", "api/risk");
    if (r.status !== 200) { status("bad", r.data.message || say("noToken")); return; }
    info = r.data;
    lang = T[info.language] ? info.language : "nl";
    document.documentElement.lang = lang;
    for (const [id, key] of [["t-title", "title"], ["t-room", "room"], ["t-day", "day"], ["t-from", "from"], ["t-until", "until"],
      ["t-standby", "standby"], ["t-standby-hint", "standbyHint"], ["t-present", "present"], ["go", "go"],
      ["t-confirm-h", "confirmH"], ["t-confirm-id", "confirmId"], ["confirm", "confirm"], ["t-mine", "mine"]]) {
      $(id).textContent = say(key);
    }
    $("t-who").textContent = say("who", { name: info.name });
    for (const r of info.rooms) $("room").appendChild(new Option(r.label, r.id));
    for (const c of info.colleagues) $("standby").appendChild(new Option(c.name, c.id));
    const now = new Date(), later = new Date(Date.now() + 60 * 60 * 1000);
    $("day").value = now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + pad(now.getDate());
    $("from").value = pad(now.getHours()) + ":" + pad(now.getMinutes());
    $("until").value = pad(later.getHours()) + ":" + pad(later.getMinutes());
    const want = frag.get("confirm");
    if (want) $("confirm-id").value = want;
    late();
    draw();
  }

  async function act(riskId, what, button) {
    button.disabled = true;
    status("wait", say("sending"));
    const r = await persist("POST", "api/risk/" + encodeURIComponent(riskId) + "/" + what);
    button.disabled = false;
    status(r.status === 200 ? "ok" : "bad", r.data.message || r.data.error || String(r.status));
    if (r.status === 200 && what === "cancel") {
      localStorage.setItem("stilalarm.risk.mine", JSON.stringify(mine().map((x) => (x.risk_id === riskId ? { ...x, cancelled: true } : x))));
      draw();
    }
  }

  for (const id of ["from", "until", "day", "present"]) $(id).addEventListener("input", late);
  $("confirm").addEventListener("click", () => { const id = $("confirm-id").value.trim(); if (id) act(id, "confirm", $("confirm")); });
  $("form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {
      risk_id: newId(), room: $("room").value, standby: $("standby").value,
      starts_at: at($("from").value).toISOString(), ends_at: at($("until").value).toISOString(),
      colleagues_present: $("present").checked,
    };
    $("go").disabled = true;
    status("wait", say("sending"));
    const r = await persist("POST", "api/risk", body);
    $("go").disabled = false;
    status(r.status === 200 ? "ok" : "bad", r.data.message || r.data.error || String(r.status));
    if (r.status === 200) {
      localStorage.setItem("stilalarm.risk.mine", JSON.stringify([...mine(), { risk_id: body.risk_id, starts_at: body.starts_at, ends_at: body.ends_at }].slice(-20)));
      draw();
    }
  });

  if (!token) status("bad", say("noToken")); else load();
})();
