// The daily check-in in a real browser against `speciosa serve --demo`, at phone size.
// Run: SPECIOSA_BIN=target/debug/speciosa node --test web/e2e/tests/
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectPath, expectVisible, launchBrowser, scenario } from '../lib/harness.mjs';

// Demo account seeded by `serve --demo`.
const PASSWORD = 'kratom-demo-2026';
const PATIENT = 'dana.reyes@demo.speciosa.test';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const CHECKIN_PATH = new RegExp(`^/patients/${UUID}/checkin$`, 'i');
const URGENT_PATH = new RegExp(`^/patients/${UUID}/urgent$`, 'i');

// Valid morning diary answers, by item (clock times, minutes, counts).
const DIARY = { 1: '22:30', 2: '22:45', 3: '20', 4: '1', 5: '10', 6: '06:30', 7: '06:50' };

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Answers every question in `section` validly, and "Yes" to the first red flag. */
async function fillSection(section) {
  const code = await section.getAttribute('id');
  // Entries: the sleep diary's times, minutes and counts.
  for (const input of await section.locator('input[type=time], input[type=number]').all()) {
    const item = (await input.getAttribute('name')).split('.')[1];
    await input.fill(DIARY[item] ?? '0');
  }
  // Radio groups: the lowest answer, except one red flag answered "Yes".
  const groups = section.locator('fieldset.item');
  for (let i = 0; i < (await groups.count()); i += 1) {
    const group = groups.nth(i);
    const radios = group.locator('input[type=radio]');
    if (code === 'red_flags' && i === 0) {
      await group.getByLabel('Yes', { exact: true }).check();
    } else if (code === 'sleep_diary') {
      await radios.nth(2).check();
    } else {
      await radios.first().check();
    }
  }
}

test('a patient completes the daily check-in and a red flag takes them to urgent help', async (t) => {
  const phone = { viewport: { width: 390, height: 844 } };
  await scenario(browser, t.name, phone, async ({ page, shot }) => {
    await page.goto('/login');
    await page.fill('input[name=email]', PATIENT);
    await page.fill('input[name=password]', PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectPath(page, '/home', '/home after signing in');

    const checkin = page.getByRole('link', { name: "Start today's check-in", exact: true });
    await expectVisible(checkin, `a "Start today's check-in" button on the home page`);
    await shot('home');
    await checkin.first().click();
    await expectPath(page, CHECKIN_PATH, '/patients/<id>/checkin');
    await expectVisible(page.getByRole('heading', { name: "Today's check-in", level: 1 }), 'the check-in heading');

    // The demo seeds check-ins up to yesterday, so today's (with the red-flag checklist) is due.
    const redFlags = page.locator('section.instrument#red_flags');
    await expectVisible(redFlags, "the red-flag checklist in today's check-in");
    const intro = await page.locator('main').innerText();
    assert.match(intro, /\d+ sections, \d+ questions, about \d+ minutes?/, `the check-in says how long it is:\n${intro}`);

    // The sleep diary saved on its own: the page comes back without it and says it is done.
    const diary = page.locator('section.instrument#sleep_diary');
    await fillSection(diary);
    await diary.getByRole('button', { name: /^Save this section/ }).click();
    await expectPath(page, CHECKIN_PATH, 'the check-in again after saving one section');
    await expectVisible(page.getByText('Saved: Sleep diary'), 'that the sleep diary was saved');
    await expectVisible(page.getByText('Done today:'), 'the sections done today');
    assert.equal(await page.locator('section.instrument#sleep_diary').count(), 0, 'the saved section is not asked again');
    await shot('section-saved');

    const sections = page.locator('section.instrument');
    for (let i = 0; i < (await sections.count()); i += 1) {
      await fillSection(sections.nth(i));
    }
    await shot('filled');
    await page.getByRole('button', { name: /^Save (check-in|answers)$/ }).click();

    await expectPath(page, URGENT_PATH, 'the urgent help page after a red flag');
    await expectVisible(page.getByRole('heading', { name: 'Please reach out for help now', level: 1 }), 'the urgent help heading');
    await expectVisible(page.getByRole('heading', { name: 'What happens next' }), 'what happens next, and when');
    const body = await page.locator('main').innerText();
    assert.match(body, /988/, `the urgent page should offer 988, got:\n${body}`);
    assert.match(body, /911/, `the urgent page should offer 911, got:\n${body}`);
    await shot('urgent');
  });
});
