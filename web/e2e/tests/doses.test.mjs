// Dose logging in a real browser against `speciosa serve --demo`, at phone size.
// Run: SPECIOSA_BIN=target/debug/speciosa node --test web/e2e/tests/
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectPath, expectVisible, launchBrowser, scenario } from '../lib/harness.mjs';

// Demo account seeded by `serve --demo`.
const PASSWORD = 'kratom-demo-2026';
const PATIENT = 'dana.reyes@demo.speciosa.test';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const NEW_DOSE_PATH = new RegExp(`^/patients/${UUID}/doses/new$`, 'i');
const DOSE_LOG_PATH = new RegExp(`^/patients/${UUID}/doses$`, 'i');

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test('a patient logs a dose on their phone and sees it in their daily totals', async (t) => {
  const phone = { viewport: { width: 390, height: 844 } };
  await scenario(browser, t.name, phone, async ({ page, shot }) => {
    await page.goto('/login');
    await page.fill('input[name=email]', PATIENT);
    await page.fill('input[name=password]', PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectPath(page, '/home', '/home after signing in');

    const logLink = page.getByRole('link', { name: 'Log a dose', exact: true });
    await expectVisible(logLink, 'a "Log a dose" link on the home page');
    await shot('home');
    await logLink.first().click();
    await expectPath(page, NEW_DOSE_PATH, '/patients/<id>/doses/new');
    await shot('dose-form');

    // The main form (a "repeat last dose" form with hidden fields may sit above it).
    const form = page.locator('form').filter({ has: page.locator('select[name=batch_id]') });
    // The first batch of the first product in the list.
    const select = form.locator('select[name=batch_id]');
    const firstBatch = select.locator('optgroup').first().locator('option').first();
    const batchId = await firstBatch.getAttribute('value');
    assert.ok(batchId, 'the batch list should offer at least one batch');
    await select.selectOption(batchId);
    await form.locator('input[name=amount]').fill('2.5');
    await form.locator('select[name=unit]').selectOption('g');
    await shot('dose-form-filled');
    await form.getByRole('button', { name: 'Log dose', exact: true }).click();

    await expectPath(page, DOSE_LOG_PATH, 'the dose log after logging');
    const saved = page.getByRole('status').filter({ hasText: 'Dose logged' });
    await expectVisible(saved, 'a "Dose logged" confirmation');
    await expectVisible(saved.getByText(/2\.5 g of/), 'the logged amount "2.5 g" in the confirmation');
    const savedText = await saved.innerText();
    assert.match(savedText, /Mitragynine\s+\d+(\.\d+)? mg/, `the confirmation should give mitragynine in mg, got:\n${savedText}`);

    // Today's totals list the new dose.
    const today = page.locator('section.day').first();
    await expectVisible(today.getByText('Today'), "today's section of the log");
    await expectVisible(today.locator('tbody tr').filter({ hasText: '2.5 g' }), 'a 2.5 g dose in today\'s doses');
    const totals = await today.locator('dl.totals').innerText();
    assert.match(totals, /Mitragynine\s+\d+(\.\d+)? mg/, `today's totals should give mitragynine in mg, got:\n${totals}`);
    await shot('dose-log');
  });
});
