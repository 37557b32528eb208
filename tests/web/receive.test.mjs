// `ferry receive --web` in a real browser: pick three files (one with markup in its name), send
// them, compare the bytes saved on the device; the alias with markup shows as text; screenshots
// at phone and desktop widths.
import fs from 'node:fs';
import path from 'node:path';
import { browser, check, finish, sameBytes, screenshots, startFerry, test, tmpdir, XSS_ALIAS, XSS_NAME } from './common.mjs';

const dir = tmpdir('receive');
const src = path.join(dir, 'pick');
const inbox = path.join(dir, 'inbox');
fs.mkdirSync(src);
const big = Buffer.alloc(2 * 1024 * 1024 + 5);
for (let i = 0; i < big.length; i++) big[i] = (i * 13 + (i >> 10)) & 0xff;
const files = [
  ['report.pdf', big],
  ['photo 1.jpg', Buffer.from('a photo, honestly')],
  [XSS_NAME, Buffer.from('still just text\n')],
];
for (const [name, data] of files) fs.writeFileSync(path.join(src, name), data);

await test('receive page: upload three files, hostile names as text, screenshots', async () => {
  const ferry = await startFerry(
    ['receive', '--web', '--yes', '--bind', '127.0.0.1', '--port', '0', '--dir', inbox, '--alias', XSS_ALIAS],
    path.join(dir, 'config'));
  const { page, problems } = await browser();
  await page.goto(`http://127.0.0.1:${ferry.port}/`);
  await page.locator('#receive').waitFor({ state: 'visible' });
  check((await page.locator('#alias').textContent()) === XSS_ALIAS, 'the alias shows as text');
  check((await page.locator('#alias b, #alias script').count()) === 0, 'no element made from the alias');

  await page.setInputFiles('#picker', files.map(([name]) => path.join(src, name)));
  const names = await page.locator('#uploads .name').allTextContents();
  check(JSON.stringify(names) === JSON.stringify(files.map(([n]) => n)), 'picked names as text: ' + JSON.stringify(names));
  check((await page.locator('img').count()) === 0, 'no element made from a name');
  await page.click('#send');
  await page.locator('#receive-status', { hasText: 'Done: 3 files sent.' }).waitFor({ timeout: 120000 });
  for (const [name, data] of files) {
    // The device's safe storage replaces characters that are illegal on some systems.
    const saved = path.join(inbox, name.replace(/[<>]/g, '_'));
    check(fs.existsSync(saved), 'saved on the device: ' + name);
    sameBytes(fs.readFileSync(saved), data, name);
  }
  check((await page.locator('.state.done').count()) === 3, 'three files marked sent');
  await screenshots(page, 'receive');
  check(problems.length === 0, 'no dialog or console error: ' + problems.join('; '));
  check(/Browser/.test(ferry.output()), 'the device shows the browser as the sender');
});

await test('receive page with a PIN: asked, a wrong one refused, the right one sends', async () => {
  const inbox2 = path.join(dir, 'inbox-pin');
  const ferry = await startFerry(['receive', '--web', '--yes', '--pin', '1357', '--bind', '127.0.0.1', '--port', '0', '--dir', inbox2],
    path.join(dir, 'config-pin'));
  const { page, problems } = await browser();
  await page.goto(`http://127.0.0.1:${ferry.port}/`);
  await page.locator('#receive').waitFor({ state: 'visible' });
  await page.setInputFiles('#picker', [path.join(src, 'photo 1.jpg')]);
  await page.click('#send');
  await page.locator('#pin').waitFor({ state: 'visible' });
  await page.fill('#pin', '0000');
  await page.click('#pin-form button');
  await page.locator('#pin-error', { hasText: 'Wrong PIN.' }).waitFor();
  await page.fill('#pin', '1357');
  await page.click('#pin-form button');
  await page.locator('#receive-status', { hasText: 'Done: 1 file sent.' }).waitFor({ timeout: 60000 });
  sameBytes(fs.readFileSync(path.join(inbox2, 'photo 1.jpg')), files[1][1], 'photo 1.jpg');
  check(problems.length === 0, 'no dialog or console error: ' + problems.join('; '));
});

await test('receive page: a file dropped on the page is sent', async () => {
  const inbox3 = path.join(dir, 'inbox-drop');
  const ferry = await startFerry(['receive', '--web', '--yes', '--bind', '127.0.0.1', '--port', '0', '--dir', inbox3], path.join(dir, 'config-drop'));
  const { page, problems } = await browser();
  await page.goto(`http://127.0.0.1:${ferry.port}/`);
  await page.locator('#receive').waitFor({ state: 'visible' });
  const dt = await page.evaluateHandle(() => {
    const d = new DataTransfer();
    d.items.add(new File(['dropped bytes'], 'dropped.txt', { type: 'text/plain' }));
    return d;
  });
  await page.dispatchEvent('#drop', 'dragover', { dataTransfer: dt });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
  check((await page.locator('#uploads .name').allTextContents()).join() === 'dropped.txt', 'the dropped file is listed');
  await page.click('#send');
  await page.locator('#receive-status', { hasText: 'Done: 1 file sent.' }).waitFor({ timeout: 60000 });
  sameBytes(fs.readFileSync(path.join(inbox3, 'dropped.txt')), Buffer.from('dropped bytes'), 'dropped.txt');
  check(problems.length === 0, 'no dialog or console error: ' + problems.join('; '));
});

await finish();
