// Ferry's browser page: download what a device shares, or upload files to it.
// Every name and alias goes into the page through textContent only, never as markup.
'use strict';

const API = '/api/localsend/v2/';
const SECTIONS = ['loading', 'pin-box', 'waiting', 'share', 'receive'];
const $ = (id) => document.getElementById(id);

function show(id) {
  for (const s of SECTIONS) $(s).hidden = s !== id;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmtSize(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}

function fail(msg) {
  $('error').textContent = msg;
}

async function errorText(r) {
  try {
    const j = await r.json();
    if (j && typeof j.message === 'string') return j.message;
  } catch (e) { /* no JSON body */ }
  return 'HTTP ' + r.status;
}

// The PIN box: `onPin` gets what was typed.
let onPin = null;
function askPin(message, handler) {
  onPin = handler;
  $('pin-error').textContent = message || '';
  show('pin-box');
  $('pin').value = '';
  $('pin').focus();
}

async function main() {
  $('pin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (onPin) onPin($('pin').value);
  });
  let st;
  try {
    const r = await fetch('/web/state', { cache: 'no-store' });
    st = await r.json();
  } catch (e) {
    show('loading');
    fail('The device does not answer.');
    return;
  }
  $('alias').textContent = st.alias;
  $('fp').textContent = st.fingerprint;
  document.title = 'Ferry · ' + st.alias;
  $('transport').textContent = st.https
    ? 'Encrypted with the device\'s own certificate (HTTPS).'
    : 'Plain HTTP inside your local network: browsers refuse a device\'s self-signed HTTPS certificate without a click-through, so this page uses HTTP. Others on this network could see what is transferred.';
  if (st.mode === 'share') {
    if (st.pin) askPin('', (p) => openShare(p));
    else openShare('');
  } else if (st.mode === 'receive') {
    initReceive(st);
  } else {
    show('loading');
    fail('Nothing is shared right now.');
  }
}

// ---- Share: download -------------------------------------------------------------------

async function openShare(pin) {
  show('waiting');
  $('error').textContent = '';
  const q = new URLSearchParams();
  if (pin) q.set('pin', pin);
  let r;
  try {
    r = await fetch(API + 'prepare-download?' + q.toString(), { method: 'POST', cache: 'no-store' });
  } catch (e) {
    fail('The device does not answer.');
    return;
  }
  if (r.status === 401) { askPin(pin ? 'Wrong PIN.' : '', (p) => openShare(p)); return; }
  if (r.status === 429) { askPin('Too many attempts. Try again later.', (p) => openShare(p)); return; }
  if (r.status === 403) { show('loading'); fail('The device\'s owner did not let this browser in.'); return; }
  if (!r.ok) { show('loading'); fail(await errorText(r)); return; }
  renderShare(await r.json());
}

function downloadLink(session, id) {
  const q = new URLSearchParams({ sessionId: session, fileId: id });
  return API + 'download?' + q.toString();
}

function row(name, size, href, secondary) {
  const li = el('li');
  const item = el('div', 'item');
  item.append(el('div', 'name', name), el('div', 'size', size));
  const a = el('a', 'button' + (secondary ? ' secondary' : ''), 'Download');
  a.href = href;
  a.setAttribute('download', '');
  li.append(item, a);
  return li;
}

function renderShare(d) {
  const session = String(d.sessionId);
  const files = Object.values(d.files || {}).sort((a, b) => String(a.fileName).localeCompare(String(b.fileName)));
  const zips = Array.isArray(d.ferryZips) ? d.ferryZips : [];
  const zipList = $('zips');
  const fileList = $('files');
  zipList.replaceChildren();
  fileList.replaceChildren();
  for (const z of zips) {
    const what = Number(z.files) === 1 ? '1 file' : Number(z.files) + ' files';
    zipList.append(row(String(z.fileName), 'Folder as zip · ' + what + ' · ' + fmtSize(Number(z.size)), downloadLink(session, String(z.id)), false));
  }
  for (const f of files) {
    fileList.append(row(String(f.fileName), fmtSize(Number(f.size)), downloadLink(session, String(f.id)), zips.length > 0));
  }
  const total = files.reduce((s, f) => s + Number(f.size), 0);
  $('share-summary').textContent = files.length === 1 ? '1 file, ' + fmtSize(total) : files.length + ' files, ' + fmtSize(total);
  show('share');
}

// ---- Receive: upload -------------------------------------------------------------------

let picked = [];
let sending = false;

function initReceive() {
  const drop = $('drop');
  $('picker').addEventListener('change', () => addFiles($('picker').files));
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    if (ev.dataTransfer) addFiles(ev.dataTransfer.files);
  });
  $('send').addEventListener('click', () => send(''));
  show('receive');
}

function addFiles(list) {
  if (sending) return;
  for (const f of list) picked.push({ file: f, id: 'f' + picked.length, li: null, bar: null, state: null });
  renderUploads();
}

function renderUploads() {
  const ul = $('uploads');
  ul.replaceChildren();
  for (const p of picked) {
    const li = el('li');
    const item = el('div', 'item');
    const bar = el('progress');
    bar.max = Math.max(p.file.size, 1);
    bar.value = 0;
    bar.hidden = true;
    item.append(el('div', 'name', p.file.name), el('div', 'size', fmtSize(p.file.size)), bar);
    const state = el('span', 'state', '');
    li.append(item, state);
    p.li = li; p.bar = bar; p.state = state;
    ul.append(li);
  }
  $('send').disabled = picked.length === 0 || sending;
}

function randomHex(n) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
}

function setState(p, text, cls) {
  p.state.textContent = text;
  p.state.className = 'state' + (cls ? ' ' + cls : '');
}

async function send(pin) {
  if (picked.length === 0) return;
  sending = true;
  $('send').disabled = true;
  $('error').textContent = '';
  const files = {};
  for (const p of picked) {
    files[p.id] = { id: p.id, fileName: p.file.name, size: p.file.size, fileType: p.file.type || 'application/octet-stream' };
  }
  const info = {
    alias: 'Browser',
    version: '2.1',
    deviceModel: 'Browser',
    deviceType: 'web',
    fingerprint: randomHex(32),
    port: Number(location.port) || (location.protocol === 'https:' ? 443 : 80),
    protocol: location.protocol === 'https:' ? 'https' : 'http',
    download: false,
  };
  $('receive-status').textContent = 'Waiting for the device to accept…';
  show('receive');
  const q = new URLSearchParams();
  if (pin) q.set('pin', pin);
  let r;
  try {
    r = await fetch(API + 'prepare-upload?' + q.toString(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ info, files }),
    });
  } catch (e) {
    return done('The device does not answer.', true);
  }
  if (r.status === 401) {
    sending = false;
    askPin(pin ? 'Wrong PIN.' : '', (p) => { show('receive'); send(p); });
    return;
  }
  if (r.status === 204) return done('The device accepted none of the files.', true);
  if (r.status === 403) return done('The device declined.', true);
  if (r.status === 409) return done('The device is busy with another transfer. Try again later.', true);
  if (r.status === 429) return done('Too many attempts. Try again later.', true);
  if (!r.ok) return done(await errorText(r), true);
  const answer = await r.json();
  const tokens = answer.files || {};
  $('receive-status').textContent = 'Sending…';
  let ok = 0;
  for (const p of picked) {
    const token = tokens[p.id];
    if (typeof token !== 'string') { setState(p, 'Skipped', 'failed'); continue; }
    if (await upload(String(answer.sessionId), p, token)) ok++;
  }
  done(ok === picked.length ? 'Done: ' + ok + (ok === 1 ? ' file sent.' : ' files sent.') : ok + ' of ' + picked.length + ' files sent.');
}

function upload(session, p, token) {
  return new Promise((resolve) => {
    const q = new URLSearchParams({ sessionId: session, fileId: p.id, token });
    const xhr = new XMLHttpRequest();
    xhr.open('POST', API + 'upload?' + q.toString());
    p.bar.hidden = false;
    setState(p, '0 %');
    xhr.upload.onprogress = (ev) => {
      p.bar.value = ev.loaded;
      if (p.file.size > 0) setState(p, Math.floor((ev.loaded * 100) / p.file.size) + ' %');
    };
    xhr.onload = () => {
      const good = xhr.status === 200;
      p.bar.value = good ? p.bar.max : p.bar.value;
      setState(p, good ? 'Sent' : 'Failed', good ? 'done' : 'failed');
      resolve(good);
    };
    xhr.onerror = () => { setState(p, 'Failed', 'failed'); resolve(false); };
    xhr.send(p.file);
  });
}

// Ends a send; `keep`: nothing was sent, the same files can be sent again.
function done(msg, keep) {
  $('receive-status').textContent = msg;
  sending = false;
  if (!keep) picked = [];
  $('send').disabled = picked.length === 0;
}

main();
