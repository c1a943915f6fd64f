// A clinician draws, previews and signs a taper in a real browser; the patient then sees
// today's target on their phone. Run: SPECIOSA_BIN=target/debug/speciosa node --test web/e2e/tests/
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import path from 'node:path';
import { SCREENSHOT_DIR, expectPath, expectVisible, launchBrowser, scenario } from '../lib/harness.mjs';

const PASSWORD = 'kratom-demo-2026';
const CLINICIAN = 'amara.okafor@demo.speciosa.test';
const PATIENT = 'sam.whitfield@demo.speciosa.test';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const PLAN_PATH = new RegExp(`^/plans/${UUID}$`, 'i');

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

async function signIn(page, email) {
  await page.goto('/login');
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

test('a clinician previews a taper, signs it with their password, and the patient sees today\'s target', async (t) => {
  await scenario(browser, t.name, { viewport: { width: 1280, height: 900 } }, async ({ page, baseURL, shot }) => {
    await signIn(page, CLINICIAN);
    await page.goto('/patients');
    await page.getByRole('link', { name: 'Sam Whitfield' }).first().click();
    const patientPath = new URL(page.url()).pathname;
    await page.goto(`${patientPath}/plans/new`);

    await page.selectOption('select[name="kind"]', 'taper');
    await page.selectOption('select[name="generator.kind"]', 'percent_of_original');
    // A decimal comma, as people type it.
    await page.fill('input[name="generator.start_mg"]', '120,5');
    await page.fill('input[name="generator.percent"]', '10');
    await page.fill('input[name="generator.interval_days"]', '7');
    const times = page.locator('input[name=slot_time]');
    const shares = page.locator('input[name=slot_share]');
    await times.nth(0).fill('08:00');
    await shares.nth(0).fill('60');
    await times.nth(1).fill('21:30');
    await shares.nth(1).fill('40');
    await page.locator('input[name=slot_bedtime]').nth(1).check();
    await page.fill('input[name=per_dose_max_mg]', '80');
    await page.fill('input[name=per_day_max_mg]', '130');
    await page.fill('textarea[name=rationale]', 'Sam asked to come off over about ten weeks.');

    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    const preview = page.locator('#preview');
    await expectVisible(preview, 'the preview below the form');
    const previewText = await preview.innerText();
    assert.match(previewText, /120[.,]5/, 'the exact first step, read from "120,5"');
    assert.match(previewText, /uncertain|No kratom-specific taper rate/i, 'the preview says where evidence is weak');
    await shot('preview');

    await page.getByRole('button', { name: 'Save draft', exact: true }).click();
    await expectPath(page, PLAN_PATH, '/plans/<id> after saving the draft');
    await shot('draft');

    await page.fill('input[name=password]', 'not the password');
    await page.getByRole('button', { name: 'Sign plan', exact: true }).click();
    await expectVisible(page.getByText('this is not your current password').first(), 'the wrong password named');
    assert.match(await page.locator('main').innerText(), /draft/i, 'still a draft');

    await page.fill('input[name=password]', PASSWORD);
    await page.getByRole('button', { name: 'Sign plan', exact: true }).click();
    await expectPath(page, PLAN_PATH, 'back on the version after signing');
    const signed = await page.locator('main').innerText();
    assert.match(signed, /signed/i);
    assert.match(signed, /SHA-256/);
    await shot('signed');

    const phone = await browser.newContext({ baseURL, viewport: { width: 390, height: 844 } });
    try {
      const own = await phone.newPage();
      await signIn(own, PATIENT);
      await expectPath(own, '/home', '/home for the patient');
      await expectVisible(own.getByText(/^Today:/).first(), "today's target on the patient's home");
      const home = await own.locator('main').innerText();
      assert.match(home, /08:00/);
      assert.match(home, /21:30/);
      assert.doesNotMatch(home, /left to take/i, 'never suggests taking more');
      await own.screenshot({ path: path.join(SCREENSHOT_DIR, 'plans-patient-home-390.png'), fullPage: true });
    } finally {
      await phone.close();
    }
  });
});
