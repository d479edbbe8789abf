// The registration page (Melding agressie): the victim's part, from the phone. The token comes from
// the link (#token=...) or the panic page on this phone. A registration that gets no answer from the
// alarm console (503, no network) is sent again with the same registration id until it is answered:
// the console counts it once. What happened is sent once and not kept on the phone.
"use strict";
(function () {
  const T = {
    nl: {
      title: "Melding agressie", place: "Waar gebeurde het?", room: "Ruimte (niet verplicht)", when: "Wanneer (leeg: nu)", what: "Wat is er gebeurd?",
      forms: "Vorm van agressie", special: "Bijzonder", how: "Hoe gaat het met je? (niet verplicht)", go: "Melding versturen",
      intro: "Elke uiting van agressie wordt geregistreerd, ook de minder ernstige. Je teamverantwoordelijke vult je melding aan.",
      who: "Aangemeld als {name}.", sending: "Versturen…", retrying: "Nog geen antwoord van de alarmcentrale; opnieuw versturen…",
      sent: "Verstuurd ({id}). Je teamverantwoordelijke vult de melding aan.", pickForm: "Kies minstens één vorm van agressie.",
      noToken: "Deze pagina heeft geen geldige link. Open de link die je van IT kreeg.",
      balie: "Balie", spreekkamer: "Spreekkamer", onthaal: "Onthaal", wachtzaal: "Wachtzaal", bureau: "Bureau",
      telefoon: "Telefoon", huisbezoek: "Huisbezoek", buiten: "Buiten de organisatie",
      verbaal: "Verbaal", fysiek: "Fysiek", psychisch: "Psychologisch",
      weapon: "Wapen", stalking: "Stalking", telephone_stalking: "Telefonische stalking",
      damage_belongings: "Schade aan persoonlijke spullen", animals: "Dieren", alcohol_drugs: "Alcohol of drugs",
      sexual_intimidation: "Seksuele intimidatie",
    },
    en: {
      title: "Aggression report", place: "Where did it happen?", room: "Room (optional)", when: "When (empty: now)", what: "What happened?",
      forms: "Form of aggression", special: "Special cases", how: "How are you doing? (optional)", go: "Send report",
      intro: "Every expression of aggression is registered, also the less serious ones. Your team lead completes your report.",
      who: "Signed in as {name}.", sending: "Sending…", retrying: "No answer from the alarm console yet; sending again…",
      sent: "Sent ({id}). Your team lead completes the report.", pickForm: "Choose at least one form of aggression.",
      noToken: "This page has no valid link. Open the link IT gave you.",
      balie: "Counter", spreekkamer: "Consulting room", onthaal: "Reception", wachtzaal: "Waiting room", bureau: "Office",
      telefoon: "Telephone", huisbezoek: "Home visit", buiten: "Outside the organisation",
      verbaal: "Verbal", fysiek: "Physical", psychisch: "Psychological",
      weapon: "Weapon", stalking: "Stalking", telephone_stalking: "Telephone stalking",
      damage_belongings: "Damage to personal belongings", animals: "Animals", alcohol_drugs: "Alcohol or drugs",
      sexual_intimidation: "Sexual intimidation",
    },
  };
  const FORMS = ["verbaal", "fysiek", "psychisch"];
  const SPECIAL = ["weapon", "stalking", "telephone_stalking", "damage_belongings", "animals", "alcohol_drugs", "sexual_intimidation"];
  let lang = (navigator.language || "nl").startsWith("en") ? "en" : "nl";
  const $ = (id) => document.getElementById(id);
  const say = (key, v) => (T[lang][key] || T.nl[key] || key).replace(/\{(\w+)\}/g, (_, k) => (v && v[k]) || "");
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.get("token")) {
    localStorage.setItem("stilalarm.visit.token", frag.get("token"));
    history.replaceState(null, "", location.pathname);
  }
  const token = localStorage.getItem("stilalarm.visit.token") || localStorage.getItem("stilalarm.token");

  function status(kind, text) { const s = $("status"); s.className = kind; s.textContent = text; }

  async function call(method, body) {
    const r = await fetch("api/register", {
      method,
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    let data = {};
    try { data = await r.json(); } catch (_) { /* not JSON */ }
    return { status: r.status, data };
  }

  function box(parent, name) {
    const l = document.createElement("label");
    const c = document.createElement("input");
    c.type = "checkbox"; c.name = name; c.id = "c-" + name;
    l.append(c, document.createTextNode(say(name)));
    parent.append(l);
  }

  function texts() {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll("[data-t]")) el.textContent = say(el.dataset.t);
  }

  function newId() {
    const d = new Date();
    const day = d.getFullYear() + String(d.getMonth() + 1).padStart(2, "0") + String(d.getDate()).padStart(2, "0");
    const rnd = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");
    return "reg-" + day + "-" + rnd;
  }

  async function send(ev) {
    ev.preventDefault();
    const forms = FORMS.filter((f) => $("c-" + f).checked);
    if (!forms.length) { status("bad", say("pickForm")); return; }
    const body = {
      registration_id: newId(), place_kind: $("place").value, what_happened: $("what").value.trim(),
      aggression_types: forms, how_are_you: $("how").value.trim(),
    };
    if ($("room").value) body.room_id = $("room").value;
    if ($("when").value) body.occurred_at = new Date($("when").value).toISOString();
    for (const s of SPECIAL) body[s] = $("c-" + s).checked;
    $("go").disabled = true;
    status("wait", say("sending"));
    for (let attempt = 0; ; attempt++) {
      let r = null;
      try { r = await call("POST", body); } catch (_) { /* offline: retry */ }
      if (r && r.status !== 503 && r.status !== 429) {
        $("go").disabled = false;
        if (r.data.ok) { status("ok", say("sent", { id: r.data.registration_id })); $("form").reset(); }
        else status("bad", r.data.message || String(r.status));
        return;
      }
      status("wait", say("retrying"));
      await new Promise((ok) => setTimeout(ok, Math.min(2000 + attempt * 500, 10000)));
    }
  }

  async function start() {
    if (!token) { status("bad", say("noToken")); $("go").disabled = true; return; }
    const r = await call("GET").catch(() => null);
    if (!r || !r.data.ok) { status("bad", say("noToken")); $("go").disabled = true; return; }
    if (r.data.language === "en" || r.data.language === "nl") lang = r.data.language;
    texts();
    $("who").textContent = say("who", { name: r.data.name });
    for (const p of r.data.places) {
      const o = document.createElement("option"); o.value = p; o.textContent = say(p); $("place").append(o);
    }
    for (const room of r.data.rooms || []) {
      const o = document.createElement("option"); o.value = room.id; o.textContent = room.label; $("room").append(o);
    }
    FORMS.forEach((f) => box($("forms"), f));
    SPECIAL.forEach((s) => box($("special"), s));
    $("form").addEventListener("submit", send);
  }
  texts();
  start();
})();
