// `ferry share` in a real browser: the PIN box, the file list (hostile names shown as text), two
// downloads and the folder zip compared byte for byte, a download resumed with a range request,
// and screenshots at phone and desktop widths.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { browser, check, finish, sameBytes, screenshots, startFerry, test, tmpdir, XSS_ALIAS, XSS_NAME } from './common.mjs';

const dir = tmpdir('share');
const big = Buffer.alloc(3 * 1024 * 1024 + 17);
for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 12)) & 0xff;
fs.writeFileSync(path.join(dir, 'holiday video.bin'), big);
fs.writeFileSync(path.join(dir, 'notes.txt'), 'Ferry notes\n');
fs.writeFileSync(path.join(dir, XSS_NAME), 'not markup\n');
fs.mkdirSync(path.join(dir, 'album/2026'), { recursive: true });
fs.writeFileSync(path.join(dir, 'album/cover.jpg'), Buffer.from('cover image bytes'));
fs.writeFileSync(path.join(dir, 'album/2026/beach.jpg'), Buffer.from('beach image bytes'));

const PIN = '2468';

/// Reads a zip with Python's zipfile (an independent reader): [[name, base64 bytes]...].
function unzip(file) {
  const code = 'import sys,zipfile,base64,json;z=zipfile.ZipFile(sys.argv[1]);' +
    'print(json.dumps(sorted([n, base64.b64encode(z.read(n)).decode()] for n in z.namelist())))';
  return JSON.parse(execFileSync('python3', ['-c', code, file]).toString());
}

async function download(page, name) {
  const row = page.locator('#files li, #zips li').filter({ has: page.locator('.name', { hasText: name }) });
  check((await row.count()) === 1, `one row for ${name}`);
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), row.locator('a').click()]);
  const file = await dl.path();
  return { bytes: fs.readFileSync(file), suggested: dl.suggestedFilename(), url: dl.url() };
}

await test('share page: PIN, files as text, downloads, zip, resume, screenshots', async () => {
  const ferry = await startFerry(
    ['share', path.join(dir, 'holiday video.bin'), path.join(dir, 'notes.txt'), path.join(dir, XSS_NAME), path.join(dir, 'album'),
      '--bind', '127.0.0.1', '--port', '0', '--yes', '--pin', PIN, '--no-qr', '--alias', XSS_ALIAS],
    path.join(dir, 'config'));
  const { page, problems } = await browser();
  await page.goto(`http://127.0.0.1:${ferry.port}/`);

  // The PIN box first; a wrong PIN is refused, the right one opens the list.
  await page.locator('#pin').waitFor({ state: 'visible' });
  check((await page.locator('#alias').textContent()) === XSS_ALIAS, 'the alias shows as text');
  await page.fill('#pin', '1111');
  await page.click('#pin-form button');
  await page.locator('#pin-error', { hasText: 'Wrong PIN.' }).waitFor();
  await page.fill('#pin', PIN);
  await page.click('#pin-form button');
  await page.locator('#share').waitFor({ state: 'visible' });

  const names = await page.locator('#files .name').allTextContents();
  check(JSON.stringify(names) === JSON.stringify([XSS_NAME, 'album/2026/beach.jpg', 'album/cover.jpg', 'holiday video.bin', 'notes.txt'].sort((a, b) => a.localeCompare(b))),
    'file names as text: ' + JSON.stringify(names));
  check((await page.locator('#zips .name').allTextContents())[0] === 'album.zip', 'the folder as a zip');
  check((await page.locator('img').count()) === 0, 'no element made from a name');
  check((await page.locator('#alias b, #alias script').count()) === 0, 'no element made from the alias');
  const fp = await page.locator('#fp').textContent();
  check(/^[0-9A-F]{4}( [0-9A-F]{4}){3}$/.test(fp), 'short fingerprint shown: ' + fp);

  // Two files and the zip, byte for byte.
  const v = await download(page, 'holiday video.bin');
  sameBytes(v.bytes, big, 'the big file');
  check(v.suggested === 'holiday video.bin', 'suggested name ' + v.suggested);
  const n = await download(page, 'notes.txt');
  sameBytes(n.bytes, Buffer.from('Ferry notes\n'), 'notes.txt');
  const x = await download(page, XSS_NAME);
  sameBytes(x.bytes, Buffer.from('not markup\n'), 'the file with markup in its name');
  const z = await download(page, 'album.zip');
  const zpath = path.join(dir, 'got.zip');
  fs.writeFileSync(zpath, z.bytes);
  const entries = unzip(zpath).map(([name, b64]) => [name, Buffer.from(b64, 'base64').toString()]);
  check(JSON.stringify(entries) === JSON.stringify([['2026/beach.jpg', 'beach image bytes'], ['cover.jpg', 'cover image bytes']]), 'zip: ' + JSON.stringify(entries));

  // A resumed download: the first part, then the rest with a Range request and If-Range.
  const parts = await page.evaluate(async (url) => {
    const head = await fetch(url, { headers: { Range: 'bytes=0-1048575' } });
    const first = new Uint8Array(await head.arrayBuffer());
    const etag = head.headers.get('ETag');
    const tail = await fetch(url, { headers: { Range: 'bytes=1048576-', 'If-Range': etag } });
    const rest = new Uint8Array(await tail.arrayBuffer());
    return { s1: head.status, s2: tail.status, range: tail.headers.get('Content-Range'), first: Array.from(first.slice(0, 8)), n1: first.length, rest: btoa(String.fromCharCode(...rest.slice(0, 64))), n2: rest.length };
  }, v.url);
  check(parts.s1 === 206 && parts.s2 === 206, `206 twice: ${parts.s1} ${parts.s2}`);
  check(parts.n1 === 1048576 && parts.n1 + parts.n2 === big.length, `lengths ${parts.n1} + ${parts.n2}`);
  check(parts.range === `bytes 1048576-${big.length - 1}/${big.length}`, 'Content-Range ' + parts.range);
  sameBytes(Buffer.from(parts.rest, 'base64'), big.subarray(1048576, 1048576 + 64), 'the resumed part');

  await screenshots(page, 'share');
  check(problems.length === 0, 'no dialog or console error: ' + problems.join('; '));
  check(/downloaded/.test(ferry.output()), 'the device shows the downloads');
});

await test('share page over HTTPS (certificate clicked through)', async () => {
  const ferry = await startFerry(['share', path.join(dir, 'notes.txt'), '--https', '--bind', '127.0.0.1', '--port', '0', '--yes', '--no-qr'],
    path.join(dir, 'config-https'));
  const { page, problems } = await browser(true);
  await page.goto(`https://127.0.0.1:${ferry.port}/`);
  await page.locator('#share').waitFor({ state: 'visible' });
  check((await page.locator('#transport').textContent()).startsWith('Encrypted'), 'the page says it is encrypted');
  const n = await download(page, 'notes.txt');
  sameBytes(n.bytes, Buffer.from('Ferry notes\n'), 'notes.txt over HTTPS');
  check(problems.length === 0, 'no dialog or console error: ' + problems.join('; '));
});

await finish();
