// Sign-in journeys in a real browser against `speciosa serve --demo`.
// Run: SPECIOSA_BIN=target/debug/speciosa node --test web/e2e/tests/
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectPath, expectVisible, launchBrowser, pathOf, scenario } from '../lib/harness.mjs';

// Demo accounts seeded by `serve --demo`.
const PASSWORD = 'kratom-demo-2026';
const CLINICIAN = 'amara.okafor@demo.speciosa.test';
const PATIENT = 'dana.reyes@demo.speciosa.test';
const UUID_PATH = /^\/patients\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

async function signIn(page, shot, email, password) {
  await page.goto('/login');
  await expectPath(page, '/login', '/login');
  await shot('login');
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

test("a clinician signs in to the roster, opens their patient list and a patient's record", async (t) => {
  await scenario(browser, t.name, {}, async ({ page, shot }) => {
    await signIn(page, shot, CLINICIAN, PASSWORD);

    await expectPath(page, '/roster', '/roster after signing in');
    await expectVisible(page.locator('h1', { hasText: 'Roster' }), 'an h1 saying "Roster"');
    await shot('roster');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Patients', exact: true }).click();
    await expectPath(page, '/patients', '/patients from the navigation');
    await expectVisible(page.locator('h1', { hasText: 'Patients' }), 'an h1 saying "Patients"');
    const dana = page.getByRole('link', { name: 'Dana Reyes' });
    await expectVisible(dana, 'a link to "Dana Reyes"');
    await shot('patients');

    await dana.first().click();
    await expectPath(page, UUID_PATH, "/patients/<uuid> (Dana's record)");
    await expectVisible(page.getByText('Care team'), '"Care team" on the record');
    await expectVisible(page.getByText('Birth date'), '"Birth date" on the record');
    await shot('patient-record');

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await expectPath(page, '/login', '/login after signing out');
    await shot('signed-out');

    // The session is gone: the patient list sends us back to sign in.
    await page.goto('/patients');
    assert.equal(pathOf(page), '/login', 'after sign-out, /patients should redirect to /login');
    await shot('patients-after-sign-out');
  });
});

test('a patient signs in and sees only their own home', async (t) => {
  const phone = { viewport: { width: 390, height: 844 } };
  await scenario(browser, t.name, phone, async ({ page, shot }) => {
    await signIn(page, shot, PATIENT, PASSWORD);

    await expectPath(page, '/home', '/home after signing in');
    await expectVisible(page.getByText('Dana'), 'the patient\'s name "Dana" on their home page');
    await shot('home');

    // Patients must not reach the clinicians' patient list.
    const res = await page.goto('/patients');
    await shot('patients-forbidden');
    assert.equal(res?.status(), 403, `GET /patients as a patient should be 403, got ${res?.status()} at ${page.url()}`);
  });
});

test('a wrong password shows a readable error on the sign-in page', async (t) => {
  await scenario(browser, t.name, {}, async ({ page, shot }) => {
    await signIn(page, shot, CLINICIAN, 'not-the-password');

    const alert = page.getByRole('alert').filter({ hasText: /did not match/i });
    await expectVisible(alert, 'an alert saying the details "did not match"');
    assert.equal(pathOf(page), '/login', 'a failed sign-in should stay on /login');
    await shot('wrong-password');
  });
});
