// Stilalarm panic page: the service worker keeps the page's shell so it opens without a network.
// The shell is served from the cache at once and refreshed in the background (a panic page must
// open now, not after a slow network gives up). The API (api/...) is never cached or touched.
"use strict";

const CACHE = "stilalarm-page-v4";
const SHELL = [
  "./",
  "index.html",
  "app.js",
  "queue.js",
  "style.css",
  "manifest.webmanifest",
  "icon.svg",
  "icon-192.png",
  "icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(SHELL.map((u) => new Request(u, { cache: "reload" }))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  const scope = new URL(self.registration.scope);
  if (req.method !== "GET" || url.origin !== scope.origin) return;
  if (!url.pathname.startsWith(scope.pathname) || url.pathname.startsWith(scope.pathname + "api/")) return;
  const key = req.mode === "navigate" ? new URL("./", scope).href : url.origin + url.pathname;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const hit = await cache.match(key);
      const fresh = fetch(req.mode === "navigate" ? key : req, { cache: "no-cache" })
        .then((r) => {
          if (r.ok) cache.put(key, r.clone());
          return r;
        });
      if (hit) {
        event.waitUntil(fresh.catch(() => undefined));
        return hit;
      }
      return fresh;
    })
  );
});
