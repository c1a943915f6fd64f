// Shared pieces for the browser tests: start a demo Speciosa server, launch
// Debian's Chromium through playwright-core, take screenshots, run a scenario.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SCREENSHOT_DIR = path.resolve(here, '..', 'screenshots');

export const CHROMIUM = process.env.SPECIOSA_CHROMIUM || '/usr/bin/chromium';
// As root Chromium needs --no-sandbox; the networking flags stop it from
// phoning home, which this machine's closed network refuses noisily.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A TCP port on 127.0.0.1 that is free right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Start `speciosa serve --demo` on a fresh data dir and a free port, and wait
 * until GET /readyz answers 200. Returns { baseURL, log(), stop() }.
 */
export async function startServer({ readyTimeoutMs = 60_000 } = {}) {
  const bin = process.env.SPECIOSA_BIN;
  if (!bin) throw new Error('SPECIOSA_BIN is not set (path to the speciosa binary; scripts/test sets it)');
  if (!existsSync(bin)) throw new Error(`SPECIOSA_BIN=${bin} does not exist (cargo build --bin speciosa)`);

  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'speciosa-e2e-'));
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const args = ['serve', '--demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });

  // Keep the server's output to show when a test fails.
  let output = '';
  const keep = (chunk) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let exitInfo = null;
  exited.then((info) => { exitInfo = info; });

  const stop = async () => {
    if (!exitInfo) {
      child.kill('SIGTERM');
      // Give it 10 s to shut down cleanly (clearing the timer so it can't keep node alive).
      let timer;
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise((resolve) => { timer = setTimeout(() => resolve(true), 10_000); }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exitInfo) {
      await stop();
      throw new Error(`speciosa ${args.join(' ')} exited early (${JSON.stringify(exitInfo)}):\n${output}`);
    }
    try {
      const res = await fetch(`${baseURL}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`speciosa not ready at ${baseURL}/readyz after ${readyTimeoutMs} ms:\n${output}`);
    }
    await sleep(100);
  }
  return { baseURL, log: () => output, stop };
}

/**
 * Launch headless Chromium. Playwright's launch() already gives every browser
 * a fresh temporary --user-data-dir (and rejects that flag in args).
 */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);

/**
 * Run one browser scenario against its own fresh server and browser context.
 * fn receives { page, baseURL, shot } where shot(name) saves a full-page
 * screenshot to web/e2e/screenshots/<test>-<n>-<name>.png. On failure a final
 * screenshot is saved and the server's log is appended to the error.
 */
export async function scenario(browser, testName, contextOptions, fn) {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const server = await startServer();
  const context = await browser.newContext({ baseURL: server.baseURL, ...contextOptions });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(String(err)));

  let n = 0;
  const shot = async (name) => {
    n += 1;
    const file = path.join(SCREENSHOT_DIR, `${slug(testName)}-${String(n).padStart(2, '0')}-${slug(name)}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };

  try {
    await fn({ page, baseURL: server.baseURL, shot });
  } catch (err) {
    await shot('failure').catch(() => {});
    err.message +=
      `\n  page URL: ${page.url()}` +
      (pageErrors.length ? `\n  page errors:\n    ${pageErrors.join('\n    ')}` : '') +
      `\n  server log (tail):\n${server.log().slice(-4_000)}`;
    throw err;
  } finally {
    await context.close().catch(() => {});
    await server.stop();
  }
}

/** Path of the page's current URL. */
export const pathOf = (page) => new URL(page.url()).pathname;

/** Wait until the locator is visible; fail with `what` in the message otherwise. */
export async function expectVisible(locator, what, timeout = 10_000) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout });
  } catch (err) {
    throw new Error(`expected to see ${what}, but did not within ${timeout} ms (${err.message.split('\n')[0]})`);
  }
}

/** Wait until the page's path satisfies the test; fail with a readable message. */
export async function expectPath(page, test, what, timeout = 15_000) {
  const ok = typeof test === 'string' ? (p) => p === test : (p) => test.test(p);
  try {
    await page.waitForURL((url) => ok(url.pathname), { timeout });
  } catch {
    throw new Error(`expected to be at ${what}, but the page is at ${page.url()}`);
  }
}
