// The patient's pages at phone and desktop width against `speciosa serve --demo`: home, the
// timeline's predicted-level chart, the check-in and a 404, each screenshotted.
// Run: SPECIOSA_BIN=target/debug/speciosa node --test web/e2e/tests/
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectPath, expectVisible, launchBrowser, scenario } from '../lib/harness.mjs';

const PASSWORD = 'kratom-demo-2026';
const PATIENT = 'dana.reyes@demo.speciosa.test';
// Words for the care team's pages, never the patient's.
const JARGON = ['.md', '§', 'compartment', 'Cmax', '5–95', 'percentile'];

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

for (const width of [390, 1280]) {
  test(`the patient's home, timeline, check-in and a 404 read well at ${width} px`, async (t) => {
    await scenario(browser, t.name, { viewport: { width, height: 844 } }, async ({ page, shot }) => {
      await page.goto('/login');
      await page.fill('input[name=email]', PATIENT);
      await page.fill('input[name=password]', PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await expectPath(page, '/home', '/home after signing in');
      const home = await page.locator('main').innerText();
      assert.match(home, /\d+ sections, \d+ questions, about \d+ minutes?/, `home says how long the check-in is:\n${home}`);
      for (const word of JARGON) assert.ok(!home.includes(word), `home says ${word}`);
      await shot('home');

      await page.getByRole('link', { name: 'Your progress over time, all on one page' }).click();
      await expectVisible(page.getByRole('heading', { name: 'Your timeline', level: 1 }), 'the timeline');
      const timeline = await page.locator('main').innerText();
      for (const word of JARGON) assert.ok(!timeline.includes(word), `the timeline says ${word}`);
      const predicted = page.locator('#predicted');
      await expectVisible(predicted.locator('svg.dc-plot'), 'the predicted-level chart');
      // Readable on a phone: a plot tall enough for its curve, labels at 13 px or more.
      const plot = await predicted.locator('svg.dc-plot').boundingBox();
      assert.ok(plot.height >= (width < 640 ? 180 : 110), `the plot is ${plot.height} px tall`);
      assert.ok(plot.width >= width * 0.6, `the plot is ${plot.width} px wide at ${width}`);
      const labelSize = await predicted
        .locator('svg.dc-y text')
        .first()
        .evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
      assert.ok(labelSize >= 12, `axis labels are ${labelSize} px`);
      if (width < 640) assert.ok(labelSize >= 13, `axis labels on a phone are ${labelSize} px`);
      await predicted.scrollIntoViewIfNeeded();
      await shot('timeline');

      await page.goto('/home');
      await page.getByRole('link', { name: /today's check-in$/ }).first().click();
      await expectVisible(page.getByRole('heading', { name: "Today's check-in", level: 1 }), 'the check-in');
      assert.ok((await page.getByRole('button', { name: /^Save this section/ }).count()) > 1, 'a save button per section');
      await shot('checkin');

      const response = await page.goto('/no/such/page');
      assert.equal(response.status(), 404);
      await expectVisible(page.getByRole('heading', { name: 'Page not found', level: 1 }), 'the 404 page');
      await expectVisible(page.getByRole('navigation', { name: 'Main' }), 'the navigation on the 404 page');
      await expectVisible(page.getByRole('link', { name: 'Need help now?' }), 'the crisis bar on the 404 page');
      await shot('not-found');
    });
  });
}
