// The patient app offline, in a real browser against `speciosa serve --demo`: the service
// worker installs, a dose and a check-in entered with the network switched off wait on the
// device (and say so, with the crisis line still a tap away), and are stored exactly once
// when the network comes back, even when the same entry is sent twice.
// Run: SPECIOSA_BIN=target/debug/speciosa node --test web/e2e/tests/
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectPath, expectVisible, launchBrowser, scenario } from '../lib/harness.mjs';

// Demo account seeded by `serve --demo`.
const PASSWORD = 'kratom-demo-2026';
const PATIENT = 'dana.reyes@demo.speciosa.test';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const NEW_DOSE_PATH = new RegExp(`^/patients/(${UUID})/doses/new$`, 'i');
const NOTE = 'Logged on the bus, no signal';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` in the page until it returns something truthy. */
async function until(page, fn, arg, what, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await page.evaluate(fn, arg).catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function json(page, path) {
  const response = await page.request.get(path);
  assert.equal(response.status(), 200, `GET ${path}`);
  return response.json();
}

const withNote = (doses) => doses.filter((d) => d.note === NOTE);

// Chromium's offline emulation reaches the service worker's own fetches only now and then,
// so requests are also refused at the context (the worker's included), as with no network.
async function goOffline(context) {
  await context.setOffline(true);
  await context.route('**/*', (route) => route.abort('internetdisconnected'));
}

async function goOnline(context) {
  await context.unrouteAll();
  await context.setOffline(false);
}

test('a dose and a check-in entered offline wait on the phone and are stored once when it is back online', async (t) => {
  const phone = { viewport: { width: 390, height: 844 } };
  await scenario(browser, t.name, phone, async ({ page, shot }) => {
    const context = page.context();
    await page.goto('/login');
    await page.fill('input[name=email]', PATIENT);
    await page.fill('input[name=password]', PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectPath(page, '/home', '/home after signing in');

    // The installable app: a manifest, and a service worker that takes over the page.
    assert.equal(await page.locator('link[rel=manifest]').getAttribute('href'), '/manifest.webmanifest');
    await until(page, () => navigator.serviceWorker.ready.then(() => !!navigator.serviceWorker.controller), null, 'the service worker to control the page');
    // Home asks the worker to keep the patient's pages for offline use.
    await until(
      page,
      async () => {
        const keys = await (await caches.open('speciosa-pages')).keys();
        const paths = keys.map((k) => new URL(k.url).pathname);
        return paths.includes('/home') && paths.includes('/offline') && paths.some((p) => p.endsWith('/checkin')) && paths.some((p) => p.endsWith('/doses/new')) && paths.some((p) => p.endsWith('/urgent'));
      },
      null,
      'home, check-in, dose form, help and offline pages to be kept'
    );

    await page.getByRole('link', { name: 'Log a dose', exact: true }).first().click();
    await expectPath(page, NEW_DOSE_PATH, 'the dose form');
    const patient = new URL(page.url()).pathname.match(NEW_DOSE_PATH)[1];
    const craving = `/api/v1/patients/${patient}/assessments?instrument=craving`;
    const cravingBefore = (await json(page, craving)).length;
    const dosesPath = `/api/v1/patients/${patient}/doses`;
    assert.equal(withNote(await json(page, dosesPath)).length, 0);

    // --- The network goes away. ---
    await goOffline(context);
    const form = page.locator('form').filter({ has: page.locator('select[name=batch_id]') });
    const select = form.locator('select[name=batch_id]');
    const batchId = await select.locator('optgroup').first().locator('option').first().getAttribute('value');
    await select.selectOption(batchId);
    await form.locator('input[name=amount]').fill('1,5');
    await form.locator('select[name=unit]').selectOption('g');
    await form.locator('textarea[name=note]').fill(NOTE);
    await form.getByRole('button', { name: 'Log dose', exact: true }).click();
    const queue = page.getByTestId('offline-queue');
    await expectVisible(queue.getByText('1 entry waiting to be sent'), 'one entry waiting');
    await expectVisible(queue.getByText('Dose saved on this device'), 'that the dose was kept on the device');
    assert.equal(await form.locator('input[name=amount]').inputValue(), '', 'the form is ready for another entry');

    // The check-in, opened offline: the copy kept on the device.
    await page.goto(`/patients/${patient}/checkin`);
    await expectVisible(page.getByText('This is the copy of this page kept on this device'), 'the offline copy of the check-in');
    const section = page.locator('section.instrument#craving');
    await section.locator('input[type=radio]').nth(3).check();
    await section.getByRole('button', { name: /^Save this section/ }).click();
    await expectVisible(queue.getByText('2 entries waiting to be sent'), 'two entries waiting');
    const listed = await queue.locator('li').allInnerTexts();
    assert.equal(listed.length, 2, `${listed}`);
    assert.match(listed[0], /^Dose, \d{2}:\d{2}/);
    assert.match(listed[1], /^Check-in, \d{2}:\d{2}/);

    // Home, offline: the waiting entries and the crisis line, which works offline.
    await page.goto('/home');
    await page.reload();
    await expectVisible(queue.getByText('2 entries waiting to be sent — they will be sent when you are back online.'), 'the waiting entries on home after a reload');
    await expectVisible(page.getByText('This is the copy of this page kept on this device'), 'the offline copy of home');
    const call = page.locator('.help-bar a[href^="tel:"]');
    await expectVisible(call, 'the crisis line as a tel: link');
    assert.match(await call.getAttribute('href'), /^tel:\d+$/);
    await shot('waiting-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
    await shot('waiting-desktop');
    await page.setViewportSize(phone.viewport);

    // Nothing reached the server while offline (asked from outside the browser).
    assert.equal(withNote(await json(page, dosesPath)).length, 0, 'nothing sent while offline');
    assert.equal((await json(page, craving)).length, cravingBefore);

    // The same queued dose twice (a send whose answer was lost, then sent again).
    await page.evaluate(async () => {
      const entries = await self.SpeciosaQueue.all();
      const dose = entries.find((e) => e.kind === 'dose');
      await self.SpeciosaQueue.put({ ...dose, id: dose.id + '-again', seq: dose.seq + 1 });
    });

    // --- The network comes back: everything is sent, in order, and stored once. ---
    await goOnline(context);
    await expectVisible(queue.getByText('3 entries were sent. Your care team can see them.'), 'that the entries were sent');
    assert.equal(await queue.locator('li').count(), 0, 'nothing is left waiting');
    const doses = withNote(await json(page, dosesPath));
    assert.equal(doses.length, 1, `the dose is stored once: ${JSON.stringify(doses)}`);
    assert.equal(doses[0].amount, 1.5, 'the decimal comma was read as typed');
    const cravings = await json(page, craving);
    assert.equal(cravings.length, cravingBefore + 1, 'the check-in section is stored once');
    assert.equal(await page.evaluate(async () => (await self.SpeciosaQueue.all()).length), 0);
    await shot('sent');

    // A Web Push message (as the push service delivers it) becomes a notification with the
    // payload's title, body and tag, carrying its link.
    await context.grantPermissions(['notifications']);
    const cdp = await context.newCDPSession(page);
    const registrationId = new Promise((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
        const ours = registrations.find((r) => r.scopeURL.endsWith('/') && !r.isDeleted);
        if (ours) resolve(ours.registrationId);
      });
    });
    await cdp.send('ServiceWorker.enable');
    const payload = { id: 'c0ffee00-0000-4000-8000-000000000001', title: 'Speciosa: reminder', body: "Time for today's check-in.", url: '/home', tag: 'reminder-checkin' };
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: new URL(page.url()).origin,
      registrationId: await registrationId,
      data: JSON.stringify(payload),
    });
    const shown = await until(
      page,
      async () => {
        const list = await (await navigator.serviceWorker.ready).getNotifications();
        return list.length ? list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })) : null;
      },
      null,
      'the push notification'
    );
    assert.deepEqual(shown, [{ title: payload.title, body: payload.body, tag: payload.tag, data: { url: '/home', id: payload.id } }]);

    // Signing out leaves no page of the patient on the device.
    assert.ok(await page.evaluate(() => caches.has('speciosa-pages')));
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await expectPath(page, '/login', 'the sign-in page after signing out');
    await until(page, async () => !(await caches.has('speciosa-pages')), null, 'the kept pages to be dropped');
  });
});

test('a dose whose post fails on the way is kept by the service worker and sent once later', async (t) => {
  const phone = { viewport: { width: 390, height: 844 } };
  await scenario(browser, t.name, phone, async ({ page }) => {
    const context = page.context();
    await page.goto('/login');
    await page.fill('input[name=email]', PATIENT);
    await page.fill('input[name=password]', PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectPath(page, '/home', '/home after signing in');
    await until(page, () => navigator.serviceWorker.ready.then(() => !!navigator.serviceWorker.controller), null, 'the service worker to control the page');
    await until(page, async () => (await (await caches.open('speciosa-pages')).keys()).some((k) => k.url.endsWith('/doses/new')), null, 'the dose form to be kept');

    await page.getByRole('link', { name: 'Log a dose', exact: true }).first().click();
    await expectPath(page, NEW_DOSE_PATH, 'the dose form');
    const patient = new URL(page.url()).pathname.match(NEW_DOSE_PATH)[1];
    const dosesPath = `/api/v1/patients/${patient}/doses`;

    // The server answers, but the dose's own post is lost on the way (a flaky network).
    await context.route('**/patients/*/doses', (route) =>
      route.request().method() === 'POST' ? route.abort('connectionreset') : route.continue()
    );
    const form = page.locator('form').filter({ has: page.locator('select[name=batch_id]') });
    const select = form.locator('select[name=batch_id]');
    await select.selectOption(await select.locator('optgroup').first().locator('option').first().getAttribute('value'));
    await form.locator('input[name=amount]').fill('2');
    await form.locator('textarea[name=note]').fill(NOTE);
    await form.getByRole('button', { name: 'Log dose', exact: true }).click();
    await page.waitForURL((url) => url.searchParams.get('queued') === '1');
    const queue = page.getByTestId('offline-queue');
    await expectVisible(queue.getByText('1 entry waiting to be sent'), 'the kept dose');
    assert.equal(withNote(await json(page, dosesPath)).length, 0);

    // The connection works again: the next page sends it, once.
    await context.unrouteAll();
    await page.goto('/home');
    await expectVisible(queue.getByText('1 entry was sent'), 'that the dose was sent');
    const doses = withNote(await json(page, dosesPath));
    assert.equal(doses.length, 1, JSON.stringify(doses));
    assert.equal(doses[0].amount, 2);
  });
});
