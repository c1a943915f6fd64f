// The patient app offline: check-ins and doses entered without a connection are kept on
// this device (IndexedDB) with their idempotency keys, shown as waiting, and sent in
// order when the connection returns, so each is stored exactly once. Progressive
// enhancement: without JavaScript the forms post as they always have. Also loaded by the
// service worker (sw.js), which uses only `SpeciosaQueue`.
"use strict";

(function (global) {
  const DB_NAME = "speciosa-offline";
  const STORE = "queue";

  function openDb() {
    return new Promise((resolve, reject) => {
      const request = global.indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(STORE, { keyPath: "id" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function withStore(mode, work) {
    const db = await openDb();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const result = work(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  function newKey() {
    if (global.crypto && typeof global.crypto.randomUUID === "function") {
      return global.crypto.randomUUID();
    }
    const bytes = new Uint8Array(16);
    global.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  /// Now as a `datetime-local` value in this device's zone (the dose form's time).
  function localNow(date) {
    return (
      date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes())
    );
  }

  const SpeciosaQueue = {
    newKey,
    localNow,

    /// A queue entry for a form's fields. The time it was made travels with it (the
    /// check-in's `completed_at`, an empty dose time), so sending it later changes nothing.
    entryFrom(kind, patient, path, fields) {
      const body = new URLSearchParams(fields);
      body.delete("csrf_token"); // the page that sends it gives its own
      const now = new Date();
      if (!body.get("idempotency_key")) {
        body.set("idempotency_key", newKey());
      }
      if (kind === "checkin" && !body.get("completed_at")) {
        body.set("completed_at", now.toISOString());
      }
      if (kind === "dose" && !body.get("taken_at")) {
        body.set("taken_at", localNow(now));
      }
      return {
        id: newKey(),
        seq: now.getTime(),
        kind,
        patient,
        path,
        body: body.toString(),
        key: body.get("idempotency_key"),
        created_at: now.toISOString(),
        problem: null,
      };
    },

    add(entry) {
      return withStore("readwrite", (store) => store.put(entry));
    },

    put(entry) {
      return withStore("readwrite", (store) => store.put(entry));
    },

    remove(id) {
      return withStore("readwrite", (store) => store.delete(id));
    },

    clear() {
      return withStore("readwrite", (store) => store.clear());
    },

    async all() {
      const entries = (await withStore("readonly", (store) => store.getAll())) || [];
      return entries.sort((a, b) => a.seq - b.seq);
    },
  };

  global.SpeciosaQueue = SpeciosaQueue;

  if (typeof document === "undefined") {
    return; // the service worker needs only the queue
  }

  // ---------------------------------------------------------------------------
  // The page.

  const KIND_NAMES = { checkin: "Check-in", dose: "Dose" };
  let flushing = false;
  let lastReport = null; // what the last sending did, said once

  function patientId() {
    const form = document.querySelector("form[data-offline]");
    const sources = [form && form.getAttribute("action")];
    document.querySelectorAll("a[href^='/patients/']").forEach((a) => sources.push(a.getAttribute("href")));
    for (const source of sources) {
      const match = source && source.match(/^\/patients\/([0-9a-fA-F-]{36})(\/|$)/);
      if (match) {
        return match[1];
      }
    }
    return null;
  }

  function csrfToken() {
    const input = document.querySelector("input[name='csrf_token']");
    return input ? input.value : "";
  }

  function when(iso) {
    const date = new Date(iso);
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const today = new Date();
    if (date.toDateString() === today.toDateString()) {
      return time;
    }
    return date.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" }) + ", " + time;
  }

  function statusBox() {
    let box = document.getElementById("offline-queue");
    if (!box) {
      box = document.createElement("section");
      box.id = "offline-queue";
      box.className = "panel offline-queue";
      box.setAttribute("aria-live", "polite");
      box.setAttribute("data-testid", "offline-queue");
      const main = document.getElementById("main");
      const help = main && main.querySelector(".help-bar");
      if (help) {
        help.insertAdjacentElement("afterend", box);
      } else if (main) {
        main.insertBefore(box, main.firstChild);
      } else {
        document.body.appendChild(box);
      }
    }
    return box;
  }

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([name, value]) => node.setAttribute(name, value));
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function formPath(entry) {
    return entry.kind === "checkin"
      ? "/patients/" + entry.patient + "/checkin"
      : "/patients/" + entry.patient + "/doses/new";
  }

  async function render(note) {
    const patient = patientId();
    const entries = patient ? (await SpeciosaQueue.all()).filter((e) => e.patient === patient) : [];
    const waiting = entries.filter((e) => !e.problem);
    const refused = entries.filter((e) => e.problem);
    const box = statusBox();
    box.replaceChildren();
    const message = note || lastReport;
    if (!entries.length && !message) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    box.classList.toggle("all-sent", !entries.length);
    if (message) {
      box.appendChild(element("p", { class: "offline-note", role: "status" }, message));
    }
    if (waiting.length) {
      const count = waiting.length === 1 ? "1 entry waiting to be sent" : waiting.length + " entries waiting to be sent";
      const later = waiting.length === 1 ? " — it will be sent when you are back online." : " — they will be sent when you are back online.";
      box.appendChild(element("h2", { class: "offline-count" }, count + later));
      const list = element("ul", { class: "plain offline-list" });
      waiting.forEach((e) => list.appendChild(element("li", {}, KIND_NAMES[e.kind] + ", " + when(e.created_at))));
      box.appendChild(list);
      box.appendChild(element("p", { class: "hint" }, "They are kept on this device only, until they are sent."));
    }
    refused.forEach((e) => {
      const item = element("div", { class: "offline-refused", role: "alert" });
      item.appendChild(element("p", {}, KIND_NAMES[e.kind] + ", " + when(e.created_at) + ", was not saved: " + e.problem));
      const actions = element("p", { class: "actions" });
      const fix = element("a", { class: "button secondary", href: formPath(e) + "#restore-" + e.id }, "Correct it");
      const discard = element("button", { type: "button", class: "link-button" }, "Discard it");
      discard.addEventListener("click", async () => {
        await SpeciosaQueue.remove(e.id);
        render("Discarded.");
      });
      actions.append(fix, " ", discard);
      item.appendChild(actions);
      box.appendChild(item);
    });
  }

  /// What a refused form said, in a sentence: its error summary or first message.
  function problemOf(html, status) {
    try {
      const page = new DOMParser().parseFromString(html, "text/html");
      const node =
        page.querySelector(".error-summary") ||
        page.querySelector(".field-error") ||
        page.querySelector("[role='alert']") ||
        page.querySelector("h1");
      const text = node ? node.textContent.replace(/\s+/g, " ").trim() : "";
      if (text) {
        return text.length > 400 ? text.slice(0, 400) + "…" : text;
      }
    } catch (_) {
      // Fall through to the status.
    }
    return "the server answered " + status + ".";
  }

  /// The server answered: an offline copy says it is one no longer up to date.
  function backOnline() {
    const copy = document.querySelector(".offline-copy");
    if (copy) {
      copy.textContent = "You are back online. This page is the copy kept on this device: reload it to bring it up to date.";
    }
  }

  /// Sends what is waiting for this patient, oldest first, each with its own key and
  /// this page's CSRF token. Stops at the first network failure (still offline).
  async function flush() {
    const patient = patientId();
    if (flushing || !patient || !navigator.onLine) {
      return;
    }
    flushing = true;
    let sent = 0;
    let urgent = null;
    try {
      const entries = (await SpeciosaQueue.all()).filter((e) => e.patient === patient && !e.problem);
      for (const entry of entries) {
        const body = new URLSearchParams(entry.body);
        body.set("csrf_token", csrfToken());
        let response;
        try {
          response = await fetch(entry.path, {
            method: "POST",
            body,
            credentials: "same-origin",
            headers: { "Content-Type": "application/x-www-form-urlencoded" },
          });
        } catch (_) {
          break; // still no network: try again later
        }
        backOnline();
        const landed = new URL(response.url, location.origin).pathname;
        if (landed === "/login") {
          lastReport = "Sign in again to send what is waiting.";
          break;
        }
        if (response.status >= 500 || response.status === 408 || response.status === 429) {
          break; // the server could not take it now; kept for later
        }
        if (response.redirected || response.ok) {
          await SpeciosaQueue.remove(entry.id);
          sent += 1;
          if (landed.endsWith("/urgent")) {
            urgent = response.url;
          }
          continue;
        }
        entry.problem = problemOf(await response.text(), response.status);
        await SpeciosaQueue.put(entry);
      }
    } finally {
      flushing = false;
    }
    if (sent) {
      lastReport = (sent === 1 ? "1 entry was sent" : sent + " entries were sent") + ". Your care team can see them.";
    }
    await render();
    if (urgent) {
      // A check-in sent late raised an urgent alert: the help page comes first.
      location.assign(urgent);
    }
  }

  /// Whether the server answers now (a network failure after this is caught by the
  /// service worker, which keeps the entry too).
  async function reachable() {
    try {
      const response = await fetch("/healthz", { cache: "no-store", signal: AbortSignal.timeout(5000) });
      return response.ok;
    } catch (_) {
      return false;
    }
  }

  function renewForm(form) {
    const key = form.querySelector("input[name='idempotency_key']");
    if (key) {
      key.value = newKey();
    }
  }

  function renewTime(form) {
    const time = form.querySelector("input[name='taken_at']");
    if (time) {
      time.value = localNow(new Date());
    }
  }

  async function queueForm(form, submitter) {
    const patient = patientId();
    const fields = new FormData(form, submitter || undefined);
    const entry = SpeciosaQueue.entryFrom(
      form.getAttribute("data-offline"),
      patient,
      new URL(form.action, location.origin).pathname,
      fields
    );
    await SpeciosaQueue.add(entry);
    if (form.dataset.restoring) {
      await SpeciosaQueue.remove(form.dataset.restoring);
      delete form.dataset.restoring;
    }
    form.reset();
    renewForm(form);
    renewTime(form);
    if (navigator.serviceWorker && navigator.serviceWorker.ready) {
      navigator.serviceWorker.ready
        .then((registration) => registration.sync && registration.sync.register("speciosa-queue"))
        .catch(() => {});
    }
    lastReport = null;
    await render(KIND_NAMES[entry.kind] + " saved on this device. It is sent when you are back online.");
    statusBox().scrollIntoView({ block: "start" });
  }

  function restore(form) {
    const match = location.hash.match(/^#restore-(.+)$/);
    if (!match) {
      return;
    }
    SpeciosaQueue.all().then((entries) => {
      const entry = entries.find((e) => e.id === match[1]);
      if (!entry) {
        return;
      }
      const fields = new URLSearchParams(entry.body);
      form.querySelectorAll("input[type='checkbox'], input[type='radio']").forEach((input) => {
        input.checked = fields.getAll(input.name).includes(input.value || "on");
      });
      fields.forEach((value, name) => {
        const control = form.elements.namedItem(name);
        if (control && !(control instanceof RadioNodeList) && control.type !== "checkbox" && control.type !== "radio") {
          control.value = value;
        }
      });
      form.dataset.restoring = entry.id;
      render("Your entry from " + when(entry.created_at) + " is filled in below. Correct it and save it again.");
    });
  }

  function start() {
    const offlineCopy = document.documentElement.hasAttribute("data-offline-copy");
    document.querySelectorAll("form[data-offline]").forEach((form) => {
      if (offlineCopy) {
        // A copy kept on the device: its key and time were for another visit.
        renewForm(form);
        renewTime(form);
      }
      restore(form);
      form.addEventListener("submit", async (event) => {
        if (form.dataset.reachable) {
          delete form.dataset.reachable; // checked just now: post as without JavaScript
          return;
        }
        event.preventDefault();
        const submitter = event.submitter;
        // `navigator.onLine` can say online with no way through, so the server is asked.
        if (navigator.onLine && (await reachable())) {
          if (form.dataset.restoring) {
            await SpeciosaQueue.remove(form.dataset.restoring);
          }
          form.dataset.reachable = "yes";
          form.requestSubmit(submitter || undefined);
          return;
        }
        queueForm(form, submitter);
      });
    });

    const signOut = document.querySelector("form[action='/logout']");
    if (signOut) {
      signOut.addEventListener("submit", async (event) => {
        if (signOut.dataset.confirmed) {
          return;
        }
        event.preventDefault();
        const patient = patientId();
        const waiting = (await SpeciosaQueue.all()).filter((e) => !patient || e.patient === patient);
        if (
          waiting.length &&
          !window.confirm(
            (waiting.length === 1 ? "1 entry has" : waiting.length + " entries have") +
              " not been sent yet. Signing out deletes them from this device. Sign out anyway?"
          )
        ) {
          return;
        }
        await SpeciosaQueue.clear();
        if (navigator.serviceWorker && navigator.serviceWorker.controller) {
          navigator.serviceWorker.controller.postMessage({ type: "sign-out" });
        }
        signOut.dataset.confirmed = "yes";
        signOut.submit();
      });
    }

    if (offlineCopy) {
      const main = document.getElementById("main");
      if (main) {
        main.insertBefore(
          element("p", { class: "notice offline-copy", role: "status" }, "You are offline. This is the copy of this page kept on this device."),
          main.firstChild
        );
      }
    }
    const queued = new URLSearchParams(location.search).get("queued");
    render(queued ? "Saved on this device. It is sent when you are back online." : undefined).then(flush);

    window.addEventListener("online", flush);
    // Browsers do not always say when the connection returns: try again now and then.
    setInterval(flush, 30000);
    window.addEventListener("offline", () => render());

    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.addEventListener("message", (event) => {
        if (event.data && event.data.type === "flush") {
          flush();
        }
      });
      navigator.serviceWorker
        .register("/sw.js", { scope: "/" })
        .then(() => navigator.serviceWorker.ready)
        .then((registration) => {
          const patient = patientId();
          if (patient && location.pathname === "/home" && navigator.onLine && registration.active) {
            registration.active.postMessage({
              type: "keep",
              paths: ["/home", "/patients/" + patient + "/checkin", "/patients/" + patient + "/doses/new", "/patients/" + patient + "/urgent"],
            });
          }
        })
        .catch(() => {});
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})(self);
