// Speciosa's service worker: the patient's pages offline, and Web Push notifications.
// Hand-written, no dependencies. Pages are network-first and only those the server marks
// with `Speciosa-Offline-Copy` (the patient's own home, check-in, dose form and help
// pages) are kept; API answers and staff pages never are. Static assets are cache-first
// in a cache named for this build, so a new build replaces them.
"use strict";

importScripts("/static/offline.js"); // the offline queue's storage (self.SpeciosaQueue)

const VERSION = "__ASSETS_VERSION__";
const STATIC_CACHE = "speciosa-static-" + VERSION;
// Pages outlive a new build (the patient may be offline when it arrives); they are
// dropped on sign-out and sign-in instead.
const PAGE_CACHE = "speciosa-pages";
const OFFLINE_PAGE = "/offline";
const PRECACHE = [
  "/static/app.css",
  "/static/offline.js",
  "/static/icons/icon-192.png",
  "/manifest.webmanifest",
];
// Forms whose submissions are kept on the device when the network fails.
const QUEUED_FORMS = [
  { kind: "checkin", pattern: /^\/patients\/([^/]+)\/checkin$/ },
  { kind: "dose", pattern: /^\/patients\/([^/]+)\/doses$/ },
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(STATIC_CACHE);
      await cache.addAll(PRECACHE);
      await keepPage(OFFLINE_PAGE);
      await self.skipWaiting();
    })()
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(
        names
          .filter((name) => name.startsWith("speciosa-static-") && name !== STATIC_CACHE)
          .map((name) => caches.delete(name))
      );
      await self.clients.claim();
    })()
  );
});

/// Fetches a page and keeps it if the server allows an offline copy of it.
async function keepPage(path) {
  try {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    await storePage(path, response);
  } catch (_) {
    // Offline now: the page is kept on a later visit.
  }
}

async function storePage(path, response) {
  if (response.ok && !response.redirected && response.headers.get("Speciosa-Offline-Copy")) {
    const cache = await caches.open(PAGE_CACHE);
    await cache.put(path, response);
  }
}

async function dropPages() {
  await caches.delete(PAGE_CACHE);
}

/// A kept page, marked so the page's script knows it is an offline copy (its form keys
/// and times are stale and are renewed).
async function offlineCopy(path) {
  const cache = await caches.open(PAGE_CACHE);
  const kept = (await cache.match(path)) || (await cache.match(OFFLINE_PAGE));
  if (!kept) {
    return new Response(
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">" +
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" +
        "<title>Offline · Speciosa</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>" +
        "<body><main id=\"main\"><section class=\"panel\"><h1>You are offline</h1>" +
        "<p>This page cannot be shown until you are back online.</p>" +
        "<p><strong>In an emergency call your local emergency number.</strong></p>" +
        "</section></main></body></html>",
      { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } }
    );
  }
  const html = (await kept.text()).replace("<html lang=\"en\">", "<html lang=\"en\" data-offline-copy>");
  return new Response(html, {
    status: 200,
    headers: { "Content-Type": "text/html; charset=utf-8" },
  });
}

async function networkFirst(request, path) {
  try {
    const response = await fetch(request);
    if (response.ok && new URL(response.url || request.url).pathname === "/login") {
      // Signed out (or never in): nothing of a patient stays on the device.
      await dropPages();
    } else {
      await storePage(path, response.clone());
    }
    return response;
  } catch (_) {
    return offlineCopy(path);
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(STATIC_CACHE);
  const hit = await cache.match(request);
  if (hit) {
    return hit;
  }
  const response = await fetch(request);
  if (response.ok) {
    await cache.put(request, response.clone());
  }
  return response;
}

/// A check-in or dose whose POST failed at the network: kept on the device, and the
/// patient is sent back to the form, which says it is waiting.
async function queueOrSend(request, form, patient) {
  const copy = request.clone();
  try {
    return await fetch(request);
  } catch (_) {
    const body = new URLSearchParams(await copy.text());
    await self.SpeciosaQueue.add(self.SpeciosaQueue.entryFrom(form.kind, patient, new URL(copy.url).pathname, body));
    const back = form.kind === "checkin" ? "/patients/" + patient + "/checkin" : "/patients/" + patient + "/doses/new";
    return Response.redirect(back + "?queued=1", 303);
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) {
    return;
  }
  if (request.method === "POST") {
    if (url.pathname === "/logout" || url.pathname === "/login") {
      event.waitUntil(dropPages());
      return;
    }
    if (request.mode === "navigate") {
      for (const form of QUEUED_FORMS) {
        const match = url.pathname.match(form.pattern);
        if (match) {
          event.respondWith(queueOrSend(request, form, match[1]));
          return;
        }
      }
    }
    return;
  }
  if (request.method !== "GET") {
    return;
  }
  if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(cacheFirst(request));
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, url.pathname));
  }
});

self.addEventListener("message", (event) => {
  const message = event.data || {};
  if (message.type === "sign-out") {
    event.waitUntil(dropPages());
  } else if (message.type === "keep" && Array.isArray(message.paths)) {
    // The patient's pages linked from home, kept so they open offline.
    const paths = message.paths.filter((p) => typeof p === "string" && p.startsWith("/") && !p.startsWith("//"));
    event.waitUntil(Promise.all(paths.concat([OFFLINE_PAGE]).map(keepPage)));
  }
});

// Background sync, where the browser has it: the open pages send what is waiting.
self.addEventListener("sync", (event) => {
  if (event.tag === "speciosa-queue") {
    event.waitUntil(
      self.clients.matchAll({ type: "window" }).then((windows) => {
        windows.forEach((w) => w.postMessage({ type: "flush" }));
      })
    );
  }
});

// Web Push: {"id", "title", "body", "url", "tag"}, never clinical content.
self.addEventListener("push", (event) => {
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch (_) {
    payload = {};
  }
  const title = typeof payload.title === "string" && payload.title ? payload.title : "Speciosa";
  const options = {
    body: typeof payload.body === "string" ? payload.body : "Something needs your attention.",
    tag: typeof payload.tag === "string" && payload.tag ? payload.tag : undefined,
    data: { url: typeof payload.url === "string" ? payload.url : "/", id: payload.id },
    icon: "/static/icons/icon-192.png",
    badge: "/static/icons/icon-192.png",
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const raw = (event.notification.data && event.notification.data.url) || "/";
  let target;
  try {
    target = new URL(raw, self.location.origin);
  } catch (_) {
    target = new URL("/", self.location.origin);
  }
  // Only this app's pages open from a notification.
  if (target.origin !== self.location.origin) {
    target = new URL(target.pathname + target.search + target.hash, self.location.origin);
  }
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) {
        if (client.url === target.href && "focus" in client) {
          return client.focus();
        }
      }
      return self.clients.openWindow(target.href);
    })()
  );
});
