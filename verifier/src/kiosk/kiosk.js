// Huren checkpoint kiosk: camera frames go to the local service as greyscale, answers come back as
// green / amber / red. Nothing here talks to anything but the service that served this page.
'use strict';

const HOLD_MS = 4000;        // how long an answer stays on screen once the code leaves the camera
const FRAME_GAP_MS = 60;     // pause between frames, so the device stays responsive
const MAX_FRAME_WIDTH = 1280;

const $ = (id) => document.getElementById(id);
let shown = { fingerprint: null, at: 0 };
let manualUntil = 0;         // a pasted or uploaded code's answer is not replaced by the camera before this

const TITLES = {
  green: '通过 · Valid',
  amber: '请复核 · Check again',
  red: '不通过 · Refused',
};

function setText(id, text) { $(id).textContent = text == null ? '' : String(text); }

function show(answer) {
  const verdict = answer.verdict || 'red';
  $('verdict').dataset.state = verdict;
  $('verdict').dataset.code = answer.code || '';
  setText('verdict-title', TITLES[verdict]);
  const reason = answer.reason || answer.message || {};
  setText('verdict-reason', `${reason.zh || ''} · ${reason.en || ''}`);
  const person = answer.person;
  $('person').hidden = !person;
  if (person) {
    setText('person-name', person.name_standard ? `${person.name} (${person.name_standard})` : person.name);
    setText('person-id', person.masked_id || (person.date_of_birth ? `出生 · born ${person.date_of_birth}` : ''));
    setText('person-type', person.type);
    setText('person-until', (person.valid_until || '').replace('T', ' ').replace('Z', ' UTC'));
    setText('person-issuer', person.issuer);
  }
  setText('verdict-detail', answer.valid ? '' : `${answer.code}: ${answer.detail || ''}`);
  const list = $('verdict-warnings');
  list.replaceChildren(...(answer.warnings || []).map((w) => {
    const item = document.createElement('li');
    item.textContent = `⚠ ${w}`;
    return item;
  }));
  shown = { fingerprint: answer.fingerprint || null, at: Date.now() };
}

function idle() {
  $('verdict').dataset.state = 'idle';
  $('verdict').dataset.code = '';
  setText('verdict-title', '请出示二维码 · Show your QR code');
  setText('verdict-reason', '');
  setText('verdict-detail', '');
  $('person').hidden = true;
  $('verdict-warnings').replaceChildren();
  shown = { fingerprint: null, at: 0 };
}

function showError(message) {
  show({ verdict: 'red', code: 'ERROR', reason: { zh: '核验服务出错', en: 'The verification service failed' },
         detail: message, valid: false });
}

async function fetchJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
  return body;
}

async function refreshTrust() {
  const banner = $('trust');
  try {
    const status = await fetchJson('/api/status', { method: 'GET' });
    banner.dataset.state = status.freshness;
    const hours = status.trust_age_seconds == null ? null : Math.floor(status.trust_age_seconds / 3600);
    let text;
    if (status.trust === 'trust-file') {
      text = '使用固定信任文件（不会自动更新）· Fixed trust file (not synced)';
    } else if (status.freshness === 'stale') {
      text = `信任数据已过期（${hours} 小时），请同步 · Trust data is ${hours} h old: too old, sync now`;
    } else if (status.freshness === 'clock-behind') {
      text = '设备时钟早于信任数据，请校准时钟 · Device clock is behind the trust data: fix the clock';
    } else if (status.freshness === 'warn') {
      text = `信任数据 ${hours} 小时未更新，请尽快同步 · Trust data is ${hours} h old: sync soon`;
    } else {
      text = `信任数据 ${hours} 小时前更新 · Trust data ${hours} h old`;
    }
    const lists = status.status_lists || [];
    const pastTtl = lists.filter((l) => l.past_ttl).length;
    if (pastTtl > 0) text += ` · ${pastTtl} 个状态列表过期 · ${pastTtl} status list(s) past their time-to-live`;
    // Lists whose codes are refused until a sync: lost (held once, now missing or damaged) or never synced.
    const unusable = lists.filter((l) => l.state === 'lost' || l.state === 'never-synced');
    if (unusable.length > 0) {
      const names = unusable.map((l) => `${l.province}/${l.list}`).join(', ');
      text += ` · 状态列表不可用，请同步：${names} · Status list(s) unavailable, sync: ${names}`;
      if (banner.dataset.state === 'fresh') banner.dataset.state = 'warn';
    }
    if (status.log) text += ' · 记录结果 · outcome log on';
    banner.textContent = text;
  } catch (e) {
    banner.dataset.state = 'error';
    banner.textContent = `无法读取信任数据 · Cannot read the trust data: ${e.message}`;
  }
}

async function verifyText(text) {
  manualUntil = Date.now() + HOLD_MS;
  try {
    show(await fetchJson('/api/verify', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: text }));
  } catch (e) {
    showError(e.message);
  }
}

async function verifyFile(file) {
  manualUntil = Date.now() + HOLD_MS;
  try {
    show(await fetchJson('/api/verify', { method: 'POST', headers: { 'content-type': file.type }, body: file }));
  } catch (e) {
    showError(e.message);
  }
}

// One camera frame as 8-bit greyscale (ITU-R BT.601 weights), at most MAX_FRAME_WIDTH wide.
function grabGrey(video, canvas) {
  const scale = Math.min(1, MAX_FRAME_WIDTH / video.videoWidth);
  const width = Math.round(video.videoWidth * scale);
  const height = Math.round(video.videoHeight * scale);
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(video, 0, 0, width, height);
  const rgba = context.getImageData(0, 0, width, height).data;
  const grey = new Uint8Array(width * height);
  for (let i = 0, j = 0; j < grey.length; i += 4, j += 1) {
    grey[j] = (rgba[i] * 77 + rgba[i + 1] * 150 + rgba[i + 2] * 29) >> 8;
  }
  return { grey, width, height };
}

async function scanLoop(video) {
  const canvas = $('grab');
  for (;;) {
    if (video.readyState >= 2 && video.videoWidth > 0) {
      try {
        const { grey, width, height } = grabGrey(video, canvas);
        const answer = await fetchJson(`/api/frame?width=${width}&height=${height}`, {
          method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: grey,
        });
        if (Date.now() < manualUntil) {
          // a pasted or uploaded code's answer is on screen
        } else if (answer.found === false) {
          if (shown.at && Date.now() - shown.at > HOLD_MS) idle();
        } else if (answer.fingerprint !== shown.fingerprint || $('verdict').dataset.state !== answer.verdict) {
          show(answer);
        } else {
          shown.at = Date.now(); // the same code is still in view: keep its answer up
        }
        $('camera-state').textContent = `扫描中 · Scanning (${width}×${height})`;
      } catch (e) {
        $('camera-state').textContent = `扫描出错 · Scan error: ${e.message}`;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, FRAME_GAP_MS));
  }
}

async function startCamera() {
  const video = $('camera');
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $('camera-state').textContent = '此浏览器无法使用摄像头 · No camera access in this browser';
    return;
  }
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'environment' },
    });
    await video.play().catch(() => {});
    $('camera-state').textContent = '扫描中 · Scanning';
    scanLoop(video);
  } catch (e) {
    $('camera-state').textContent = `无法打开摄像头 · Camera unavailable (${e.name}); paste or upload instead`;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('paste-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('paste').value.trim();
    if (text) verifyText(text);
  });
  $('upload').addEventListener('change', () => {
    const file = $('upload').files[0];
    if (file) verifyFile(file);
    $('upload').value = '';
  });
  refreshTrust();
  setInterval(refreshTrust, 15000);
  startCamera();
});
