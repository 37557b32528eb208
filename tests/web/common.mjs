// Helpers of Ferry's browser tests: a ferry process on loopback (started here, killed by PID at
// the end), headless Chromium driven by playwright-core, and checks that nothing the page shows
// runs as code (any dialog, console error or page error fails the test).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const FERRY = process.env.FERRY_BIN || path.join(ROOT, 'target/debug/ferry');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Where screenshots go: target/screenshots/, or FERRY_SCREENSHOTS (`FERRY_SCREENSHOTS=docs/screenshots
// make test-web` refreshes the ones committed for the README).
export const SHOTS = path.resolve(ROOT, process.env.FERRY_SCREENSHOTS || 'target/screenshots');
export const XSS_NAME = '<img src=x onerror=alert(1)>.txt';
export const XSS_ALIAS = '<b onmouseover=alert(2)>Evil</b><script>alert(3)</script>';

let passed = 0;
let failed = 0;
const cleanups = [];

export function tmpdir(tag) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ferry-web-${tag}-`));
  cleanups.unshift(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

export function sameBytes(a, b, what) {
  check(Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0, `${what}: ${a.length} bytes vs ${b.length} expected`);
}

/// Starts `ferry ARGS` (no discovery, its own config folder); resolves with the process and the
/// port of the first http://127.0.0.1:PORT/ link it prints.
export async function startFerry(args, config) {
  const child = spawn(FERRY, ['--config-dir', config, ...args], {
    env: { ...process.env, FERRY_NO_DISCOVERY: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  cleanups.push(() => { try { process.kill(child.pid, 'SIGKILL'); } catch (e) { /* gone */ } });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    const m = out.match(/https?:\/\/127\.0\.0\.1:(\d+)\//);
    if (m) return { child, port: Number(m[1]), output: () => out };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('ferry did not print a link: ' + out);
}

/// Chromium with a fresh profile; every dialog, console error and page error is recorded.
/// `acceptCertificate`: click through the device's self-signed HTTPS certificate.
export async function browser(acceptCertificate = false) {
  const profile = tmpdir('profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    acceptDownloads: true,
    ignoreHTTPSErrors: acceptCertificate,
    viewport: { width: 1280, height: 800 },
  });
  cleanups.push(async () => { await context.close().catch(() => {}); fs.rmSync(profile, { recursive: true, force: true }); });
  const problems = [];
  const page = context.pages()[0] || (await context.newPage());
  page.on('dialog', (d) => { problems.push('dialog: ' + d.message()); d.dismiss().catch(() => {}); });
  // Chromium logs every 4xx answer as a console error; the wrong-PIN answer (401) is one the
  // test asks for. Everything else (script errors above all) fails the test.
  const expected = (m) => /^Failed to load resource: the server responded with a status of 401 /.test(m.text());
  page.on('console', (m) => { if (m.type() === 'error' && !expected(m)) problems.push('console error: ' + m.text() + ' at ' + JSON.stringify(m.location())); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  return { context, page, problems };
}

/// Screenshots of the page at phone (390 px) and desktop (1280 px) widths.
export async function screenshots(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(SHOTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: path.join(SHOTS, `${name}-desktop.png`) });
}

export async function test(name, fn) {
  const started = Date.now();
  try {
    await Promise.race([fn(), new Promise((_, rej) => setTimeout(() => rej(new Error('timed out after 180 s')), 180000))]);
    passed++;
    console.log(`ok ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAILED ${name}: ${e.stack || e}`);
  }
}

export async function finish() {
  for (const c of cleanups.reverse()) await c();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
