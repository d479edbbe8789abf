// The home-visit page (huisbezoek): register before leaving, check in ("Ik ben terug") after.
// The token comes from the link (#token=...) and is kept on this phone only. A registration or a
// check-in that gets no answer from the alarm console (503, no network) is sent again, with the
// same visit id, until it is answered: the console counts a visit once.
"use strict";
(function () {
  const T = {
    nl: {
      title: "Huisbezoek", address: "Adres", client: "Naam cliënt (niet verplicht)", until: "Verwacht terug om",
      mobile: "Mijn gsm-nummer", colleague: "Afgesproken collega", colleagueHint: "Die belt je als het bezoek uitloopt.",
      lead: "Mijn teamverantwoordelijke", go: "Vertrekken", open: "Mijn bezoeken", back: "Ik ben terug",
      who: "Aangemeld als {name}.", sending: "Versturen…", retrying: "Nog geen antwoord van de alarmcentrale; opnieuw versturen…",
      registered: "Geregistreerd. Meld je af wanneer je terug bent.", ended: "Afgemeld. Welkom terug.",
      evening: "Je bezoek loopt na {end}: kies de collega bij wie je je afmeldt (sms).", pick: "Kies een collega.",
      noToken: "Deze pagina heeft geen geldige link. Open de link die je van IT kreeg.", until2: "tot {time}",
      done: "afgemeld",
    },
    en: {
      title: "Home visit", address: "Address", client: "Client's name (optional)", until: "Expected back at",
      mobile: "My mobile number", colleague: "Agreed colleague", colleagueHint: "They call you if the visit runs long.",
      lead: "My team lead", go: "Leave", open: "My visits", back: "I'm back",
      who: "Signed in as {name}.", sending: "Sending…", retrying: "No answer from the alarm console yet; sending again…",
      registered: "Registered. Check in when you are back.", ended: "Checked in. Welcome back.",
      evening: "Your visit runs past {end}: choose the colleague you check in with (text message).", pick: "Choose a colleague.",
      noToken: "This page has no valid link. Open the link IT gave you.", until2: "until {time}",
      done: "checked in",
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
  // the panic page's token (same person, same origin) when this page was opened from its link
  const token = localStorage.getItem("stilalarm.visit.token") || localStorage.getItem("stilalarm.token");

  function status(kind, text) {
    const s = $("status");
    s.className = kind;
    s.textContent = text;
  }

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

  // Send until the console answers: 503 and network errors are retried with the same body.
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

  function plannedEnd() {
    const [h, m] = $("until").value.split(":").map(Number);
    const d = new Date();
    d.setHours(h, m, 0, 0);
    return d;
  }

  function isEvening(d) {
    if (!info) return false;
    const [h, m] = info.office_end.split(":").map(Number);
    const day = d.getDay() === 0 ? 7 : d.getDay();
    return !info.office_weekdays.includes(day) || d.getHours() * 60 + d.getMinutes() > h * 60 + m;
  }

  function evening() {
    const late = $("until").value && isEvening(plannedEnd());
    $("evening").hidden = !late;
    $("evening").textContent = late ? say("evening", { end: info.office_end }) : "";
    $("colleague").required = !!late;
    $("colleague").options[0].disabled = !!late;
    if (late && !$("colleague").value) $("colleague").selectedIndex = -1;
  }

  function newVisitId() {
    const d = new Date();
    const day = d.getFullYear() + String(d.getMonth() + 1).padStart(2, "0") + String(d.getDate()).padStart(2, "0");
    const rnd = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");
    return "v-" + day + "-" + rnd;
  }

  function time(iso) {
    const d = new Date(iso);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function draw() {
    const list = $("list");
    list.textContent = "";
    for (const v of info.visits.slice().reverse()) {
      const li = document.createElement("li");
      const txt = document.createElement("div");
      txt.textContent = say("until2", { time: time(v.planned_end) }) + (v.ended ? " — " + say("done") : "");
      li.appendChild(txt);
      if (!v.ended) {
        const b = document.createElement("button");
        b.className = "back";
        b.textContent = say("back");
        b.onclick = () => end(v.visit_id, b);
        li.appendChild(b);
      }
      list.appendChild(li);
    }
  }

  async function load() {
    const r = await persist("GET", "api/visits");
    if (r.status !== 200) { status("bad", r.data.message || say("noToken")); return; }
    info = r.data;
    lang = T[info.language] ? info.language : "nl";
    document.documentElement.lang = lang;
    for (const [id, key] of [["t-title", "title"], ["t-address", "address"], ["t-client", "client"], ["t-until", "until"],
      ["t-mobile", "mobile"], ["t-colleague", "colleague"], ["t-colleague-hint", "colleagueHint"], ["go", "go"], ["t-open", "open"]]) {
      $(id).textContent = say(key);
    }
    $("t-who").textContent = say("who", { name: info.name });
    const sel = $("colleague");
    sel.textContent = "";
    sel.appendChild(new Option(say("lead"), ""));
    for (const c of info.colleagues) sel.appendChild(new Option(c.name, c.id));
    $("mobile").value = localStorage.getItem("stilalarm.visit.mobile") || "";
    const soon = new Date(Date.now() + 60 * 60 * 1000);
    $("until").value = String(soon.getHours()).padStart(2, "0") + ":" + String(soon.getMinutes()).padStart(2, "0");
    evening();
    draw();
    const pending = localStorage.getItem("stilalarm.visit.pending");
    if (pending) send(JSON.parse(pending));  // a registration the console never answered
  }

  async function send(body) {
    localStorage.setItem("stilalarm.visit.pending", JSON.stringify(body));
    $("go").disabled = true;
    status("wait", say("sending"));
    const r = await persist("POST", "api/visit", body);
    localStorage.removeItem("stilalarm.visit.pending");
    $("go").disabled = false;
    if (r.status === 200) {
      status("ok", r.data.message || say("registered"));
      info.visits.push({ visit_id: r.data.visit_id, planned_end: body.planned_end, ended: false });
      draw();
    } else {
      status("bad", r.data.message || r.data.error || String(r.status));
    }
  }

  async function end(visitId, button) {
    button.disabled = true;
    status("wait", say("sending"));
    const r = await persist("POST", "api/visit/" + encodeURIComponent(visitId) + "/end");
    button.disabled = false;
    if (r.status === 200) {
      status("ok", say("ended"));
      for (const v of info.visits) if (v.visit_id === visitId) v.ended = true;
      draw();
    } else {
      status("bad", r.data.message || String(r.status));
    }
  }

  $("until").addEventListener("input", evening);
  $("form").addEventListener("submit", (e) => {
    e.preventDefault();
    const end = plannedEnd();
    if (isEvening(end) && !$("colleague").value) { status("bad", say("pick")); return; }
    localStorage.setItem("stilalarm.visit.mobile", $("mobile").value.trim());
    const body = {
      visit_id: newVisitId(),
      address: $("address").value.trim(),
      client_name: $("client").value.trim(),
      planned_end: end.toISOString(),
      mobile: $("mobile").value.trim(),
    };
    if ($("colleague").value) body.colleague = $("colleague").value;
    send(body);
  });

  if (!token) status("bad", say("noToken")); else load();
})();
