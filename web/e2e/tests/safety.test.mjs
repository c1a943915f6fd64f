// The safety loop end to end in a real browser against `speciosa serve --demo`:
// a patient (phone) logs a dose and a check-in with a red flag; their clinician
// (desktop) sees the urgent alert on the roster and in the inbox, opens the
// timeline, and acknowledges it; the admin finds every step in the audit log.
// Run: SPECIOSA_BIN=target/debug/speciosa node --test web/e2e/tests/
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectPath, expectVisible, launchBrowser, scenario } from '../lib/harness.mjs';

// Demo accounts seeded by `serve --demo`.
const PASSWORD = 'kratom-demo-2026';
const PATIENT = 'dana.reyes@demo.speciosa.test';
const CLINICIAN = 'amara.okafor@demo.speciosa.test';
const ADMIN = 'admin@demo.speciosa.test';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

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

async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expectPath(page, '/login', '/login after signing out');
}

/** The number in the navigation's open-urgent badge. */
async function urgentCount(page) {
  const badge = page.getByTestId('urgent-count');
  await expectVisible(badge, 'the open urgent alert count in the navigation');
  return Number((await badge.innerText()).match(/\d+/)[0]);
}

/** Answers every question validly: lowest answers, "Yes" to the first red flag. */
async function answerCheckIn(page) {
  const diary = { 1: '22:30', 2: '22:45', 3: '20', 4: '1', 5: '10', 6: '06:30', 7: '06:50' };
  const sections = page.locator('section.instrument');
  for (let s = 0; s < (await sections.count()); s += 1) {
    const section = sections.nth(s);
    const code = await section.getAttribute('id');
    for (const input of await section.locator('input[type=time], input[type=number]').all()) {
      const item = (await input.getAttribute('name')).split('.')[1];
      await input.fill(diary[item] ?? '0');
    }
    const groups = section.locator('fieldset.item');
    for (let i = 0; i < (await groups.count()); i += 1) {
      const group = groups.nth(i);
      if (code === 'red_flags' && i === 1) {
        await group.getByLabel('Yes', { exact: true }).check();
      } else if (code === 'sleep_diary') {
        await group.locator('input[type=radio]').nth(2).check();
      } else {
        await group.locator('input[type=radio]').first().check();
      }
    }
  }
}

test('a red-flag check-in reaches the clinician, who reviews the timeline and acknowledges it, and the audit log shows each step', async (t) => {
  await scenario(browser, t.name, { viewport: PHONE }, async ({ page, shot }) => {
    // --- The patient, on a phone: a dose, then today's check-in with a red flag.
    await signIn(page, PATIENT);
    await expectPath(page, '/home', '/home after the patient signs in');
    await shot('patient-home');
    const patientId = (await page.getByRole('link', { name: 'Log a dose', exact: true }).first().getAttribute('href'))
      .match(new RegExp(UUID, 'i'))[0];
    await page.goto(`/patients/${patientId}/doses/new`);
    const form = page.locator('form').filter({ has: page.locator('select[name=batch_id]') });
    const select = form.locator('select[name=batch_id]');
    await select.selectOption(await select.locator('optgroup').first().locator('option').first().getAttribute('value'));
    await form.locator('input[name=amount]').fill('3');
    await form.locator('select[name=unit]').selectOption('g');
    await form.getByRole('button', { name: 'Log dose', exact: true }).click();
    await expectVisible(page.getByRole('status').filter({ hasText: 'Dose logged' }), 'the "Dose logged" confirmation');
    await shot('patient-dose-logged');

    await page.goto(`/patients/${patientId}/checkin`);
    await answerCheckIn(page);
    await page.getByRole('button', { name: /^Save (check-in|answers)$/ }).click();
    await expectPath(page, new RegExp(`^/patients/${UUID}/urgent$`, 'i'), 'the urgent help page');
    await expectVisible(page.getByRole('heading', { name: 'What happens next' }), 'what happens next, and when');
    await shot('patient-urgent-help');
    await signOut(page);

    // --- The clinician, on a desktop: roster first.
    await page.setViewportSize(DESKTOP);
    await signIn(page, CLINICIAN);
    await expectPath(page, '/roster', '/roster after the clinician signs in');
    const before = await urgentCount(page);
    assert.ok(before >= 1, `the navigation should count the new urgent alert, got ${before}`);
    const danaRow = page.locator('tr[data-patient="Dana Reyes"]');
    await expectVisible(danaRow.getByText('1 urgent'), "Dana's row showing 1 urgent alert");
    const firstRow = page.locator('table.roster tbody tr').first();
    assert.match(await firstRow.innerText(), /urgent/, 'a patient with an urgent alert heads the roster');
    await shot('clinician-roster');

    // The inbox: the red flag, its evidence, the source it cites, what to consider.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Alerts/ }).click();
    await expectPath(page, '/alerts', 'the alert inbox');
    const card = page.locator('article.alert-card[data-rule="red_flag_symptom"]').filter({ hasText: 'Dana Reyes' });
    await expectVisible(card, "Dana's red-flag alert in the inbox");
    const cardText = await card.innerText();
    assert.match(cardText, /A seizure/, `the evidence should name the symptom, got:\n${cardText}`);
    assert.match(cardText, /pharmacology\.md/, 'the alert cites its source');
    assert.match(cardText, /What to consider/, 'the alert says what to consider');
    await shot('clinician-inbox');
    await page.setViewportSize(PHONE);
    await shot('clinician-inbox-phone');
    await page.setViewportSize(DESKTOP);

    // The timeline, from the patient's name on the alert.
    await card.getByRole('link', { name: 'Dana Reyes' }).click();
    await expectPath(page, new RegExp(`^/patients/${patientId}/timeline$`, 'i'), "Dana's timeline");
    await expectVisible(page.getByRole('heading', { level: 1 }).filter({ hasText: 'Dana Reyes' }), "the timeline's heading");
    await shot('clinician-timeline');

    // Acknowledge it from its own page, with a comment.
    await page.goto('/alerts');
    const alertHref = await card.getByRole('link', { name: /Red-flag symptom/ }).getAttribute('href');
    await page.goto(alertHref);
    await page.getByLabel('Comment (optional)').fill('Called Dana: liver tests booked for today');
    await page.getByRole('button', { name: 'Acknowledge', exact: true }).click();
    await expectVisible(page.getByRole('status').filter({ hasText: 'Alert acknowledged' }), 'the acknowledgement notice');
    await expectVisible(page.getByText('Called Dana: liver tests booked for today'), 'the comment in the decisions');
    await shot('clinician-acknowledged');
    assert.equal(await urgentCount(page), before - 1, 'the open urgent count drops by one');
    await page.goto('/alerts');
    assert.equal(await page.locator('article.alert-card[data-rule="red_flag_symptom"]').filter({ hasText: 'Dana Reyes' }).count(), 0,
      'an acknowledged alert leaves the open inbox');
    await signOut(page);

    // --- The admin: each step is in the audit log.
    await signIn(page, ADMIN);
    for (const action of ['dose.create', 'assessment.create', 'alert.raise', 'alert.inbox', 'timeline.read', 'alert.acknowledge']) {
      await page.goto(`/admin/audit?action=${encodeURIComponent(action)}`);
      const rows = page.locator('table tbody tr').filter({ hasText: action });
      await expectVisible(rows, `an audit event "${action}"`);
    }
    await page.goto('/admin/audit?action=alert.');
    await shot('admin-audit-alerts');
  });
});
