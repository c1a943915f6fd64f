// "Notifications on this device" in a real browser against `speciosa serve --demo`:
// with JavaScript the panel offers to turn Web Push on; without it, it says what is needed.
// Run: SPECIOSA_BIN=target/debug/speciosa node --test web/e2e/tests/
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectPath, expectVisible, launchBrowser, scenario } from '../lib/harness.mjs';

// Demo account seeded by `serve --demo`.
const PASSWORD = 'kratom-demo-2026';
const PATIENT = 'dana.reyes@demo.speciosa.test';
const FALLBACK = /need a browser that supports web push, with JavaScript on/;

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

async function openAccount(page) {
  await page.goto('/login');
  await page.fill('input[name=email]', PATIENT);
  await page.fill('input[name=password]', PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expectPath(page, '/home', '/home after signing in');
  await page.goto('/account/notifications');
  await expectVisible(page.getByRole('heading', { name: 'Notifications on this device' }), 'the panel');
}

test('a patient sees that notifications are off on this device, with a button to turn them on', async (t) => {
  await scenario(browser, t.name, {}, async ({ page, shot }) => {
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await openAccount(page);
    await expectVisible(page.getByText('Off: this device shows no notifications.'), 'the status "Off"');
    await expectVisible(
      page.getByRole('button', { name: 'Turn on notifications on this device' }),
      'the turn-on button',
    );
    assert.equal(await page.getByText(FALLBACK).isVisible(), false, 'no fallback when push works');
    assert.equal(
      await page.getByRole('button', { name: 'Turn off notifications on this device' }).isVisible(),
      false,
      'nothing to turn off yet',
    );
    assert.deepEqual(errors, [], 'push.js runs without errors');
    await shot('push-off');
  });
});

test('without JavaScript the panel says what notifications on this device need', async (t) => {
  await scenario(browser, t.name, { javaScriptEnabled: false }, async ({ page, shot }) => {
    await openAccount(page);
    await expectVisible(page.getByText(FALLBACK), 'the fallback sentence');
    assert.equal(
      await page.getByRole('button', { name: 'Turn on notifications on this device' }).isVisible(),
      false,
      'no button that cannot work',
    );
    await shot('push-no-js');
  });
});
