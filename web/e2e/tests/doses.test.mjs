// Dose logging in a real browser against `speciosa serve --demo`, at phone size.
// Run: SPECIOSA_BIN=target/debug/speciosa node --test web/e2e/tests/
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectPath, expectVisible, launchBrowser, pathOf, scenario } from '../lib/harness.mjs';

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

/** Signs in as the demo patient and opens the dose form; returns the main form. */
async function openDoseForm(page) {
  await page.goto('/login');
  await page.fill('input[name=email]', PATIENT);
  await page.fill('input[name=password]', PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expectPath(page, '/home', '/home after signing in');
  await page.getByRole('link', { name: 'Log a dose', exact: true }).first().click();
  await expectPath(page, NEW_DOSE_PATH, '/patients/<id>/doses/new');
  const form = page.locator('form').filter({ has: page.locator('select[name=batch_id]') });
  // The product of the last dose is preselected: Dana's usual characterized leaf.
  const batchId = await form.locator('select[name=batch_id]').inputValue();
  assert.ok(batchId, 'the last dose\'s batch should be preselected');
  return { form, patientId: pathOf(page).split('/')[2], batchId };
}

/** The patient's current doses, newest last, through the API with the page's session. */
async function doses(page, patientId) {
  const response = await page.request.get(`/api/v1/patients/${patientId}/doses`);
  assert.equal(response.status(), 200, 'listing doses through the API');
  return response.json();
}

test('a dose typed as "1,5" in Chromium is saved as 1.5 g, not 15 g', async (t) => {
  const phone = { viewport: { width: 390, height: 844 } };
  await scenario(browser, t.name, phone, async ({ page, shot }) => {
    const { form, patientId, batchId } = await openDoseForm(page);
    const amount = form.locator('input[name=amount]');
    // Typed key by key, as a patient with a comma keyboard would.
    await amount.click();
    await amount.pressSequentially('1,5');
    assert.equal(await amount.inputValue(), '1,5', 'the field keeps the comma as typed');
    await form.locator('select[name=unit]').selectOption('g');
    await shot('typed-1-comma-5');
    await form.getByRole('button', { name: 'Log dose', exact: true }).click();

    await expectPath(page, DOSE_LOG_PATH, 'the dose log after logging');
    const saved = page.getByRole('status').filter({ hasText: 'Dose logged' });
    await expectVisible(saved.getByText(/^1\.5 g of/), 'the logged amount "1.5 g" in the confirmation');
    await shot('logged-1-5-g');
    const newest = (await doses(page, patientId)).filter((d) => d.batch_id === batchId).at(-1);
    assert.equal(newest.amount, 1.5, `the saved dose should be 1.5 g, got ${JSON.stringify(newest)}`);
  });
});

test('an unusual amount is asked about with both numbers, and confirming saves it', async (t) => {
  const phone = { viewport: { width: 390, height: 844 } };
  await scenario(browser, t.name, phone, async ({ page, shot }) => {
    const { form, patientId } = await openDoseForm(page);
    const before = (await doses(page, patientId)).length;
    await form.locator('input[name=amount]').fill('15');
    await form.locator('select[name=unit]').selectOption('g');
    await form.locator('textarea[name=note]').fill('double checked the scale');
    await form.getByRole('button', { name: 'Log dose', exact: true }).click();

    // Dana's signed taper allows at most 80 mg a dose: that is asked in the same round.
    const planQuestion = page.getByRole('alert').filter({ hasText: 'Is this right?' });
    await expectVisible(planQuestion, "the question about the plan's maximum");
    assert.match(await planQuestion.innerText(), /Your plan's most for one dose is 80 mg/);
    await shot('above-plan-question');

    // The same form comes back with the question, everything typed kept.
    const question = page.getByRole('alert').filter({ hasText: 'Please check the amount' });
    await expectVisible(question, 'the unusual-amount question');
    const text = await question.innerText();
    const match = text.match(/Is 15 g right\? That is (\d+) mg mitragynine, more than 3 times your usual (\d+) mg\./);
    assert.ok(match, `the question should give this dose's mg and the usual mg, got:\n${text}`);
    const [doseMg, usualMg] = [Number(match[1]), Number(match[2])];
    assert.ok(doseMg > 3 * usualMg, `${doseMg} mg should be more than 3 times ${usualMg} mg`);
    assert.equal(await form.locator('input[name=amount]').inputValue(), '15');
    assert.equal(await form.locator('textarea[name=note]').inputValue(), 'double checked the scale');
    assert.equal((await doses(page, patientId)).length, before, 'nothing is saved before confirming');
    await shot('unusual-question');
    await form.locator('#confirm_unusual_amount').scrollIntoViewIfNeeded();
    await shot('unusual-confirm-box');

    await form.getByLabel('Yes, 15 g is right').check();
    await form.getByLabel('Yes, 15 g is what was taken: log it').check();
    await form.getByRole('button', { name: 'Log dose', exact: true }).click();
    await expectPath(page, DOSE_LOG_PATH, 'the dose log after confirming');
    const saved = page.getByRole('status').filter({ hasText: 'Dose logged' });
    await expectVisible(saved.getByText(/^15 g of/), 'the confirmed 15 g in the confirmation');
    await shot('unusual-logged');
    const after = await doses(page, patientId);
    assert.equal(after.length, before + 1);
    assert.ok(after.some((d) => d.amount === 15 && d.note === 'double checked the scale'));
  });
});
