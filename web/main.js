// The demo page: reads the controls, calls the wasm module (web/src/lib.rs), fills the
// table and draws the plots. Query parameters preset the controls, e.g.
// index.html?tokens=256&channels=1024&out_features=256&methods=fp32,rtn,rrs&iters=1
import init, { start, run } from './pkg/rrs_web.js';

const $ = (id) => document.getElementById(id);
const form = $('controls');
let running = false;
let pending = false;

function setStatus(state, text) {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = text;
}

function unsupported(reason) {
  setStatus('unsupported', 'WebGPU is not available: the demo cannot run in this browser.');
  const box = $('unsupported');
  box.hidden = false;
  box.textContent = reason;
  document.title = 'rrs: no WebGPU';
  form.querySelectorAll('input, select, button').forEach((e) => { e.disabled = true; });
}

function showInfo(info) {
  const rows = [
    ['Adapter', info.adapter],
    ['Backend', info.backend],
    ['Details', info.description],
    ['GEMM dot product', info.dot_kernel],
    ['GEMM tile', info.gemm_tile],
    ['Decode', info.decode_kernel],
    ['Subgroups', info.subgroups],
    ['Workgroup memory', `${info.max_workgroup_storage} bytes`],
    ['Invocations per workgroup', `${info.max_invocations_per_workgroup}`],
    ['Largest storage binding', `${info.max_storage_binding_mib} MiB`],
  ];
  const dl = $('adapter');
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
}

function applyQuery() {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of q) {
    if (k === 'methods') {
      const on = new Set(v.split(','));
      form.querySelectorAll('input[name="method"]').forEach((c) => { c.checked = on.has(c.value); });
    } else if (form.elements[k]) {
      form.elements[k].value = v;
    }
  }
  form.elements.outlier_strength_out.value = form.elements.outlier_strength.value;
}

function params() {
  const f = form.elements;
  const num = (name) => Number(f[name].value);
  const q = new URLSearchParams(location.search);
  return {
    tokens: num('tokens'),
    channels: num('channels'),
    out_features: num('out_features'),
    outlier_channels: num('outlier_channels'),
    outlier_strength: num('outlier_strength'),
    spikes: num('spikes'),
    spike_strength: num('spike_strength'),
    seed: num('seed'),
    group: num('group'),
    reorder: f.reorder.value,
    methods: [...form.querySelectorAll('input[name="method"]:checked')].map((c) => c.value),
    iters: Number(q.get('iters') ?? 3),
  };
}

const fmt = (v, d) => (v === null || v === undefined ? '–' : v.toFixed(d));

function addRow(r) {
  const tr = document.createElement('tr');
  tr.dataset.method = r.method;
  for (const v of [r.method, fmt(r.rel_error, 4), fmt(r.sqnr_db, 2), fmt(r.a4_rel_error, 4),
    fmt(r.ms, 2), fmt(r.prepare_ms, 0)]) {
    const td = document.createElement('td');
    td.textContent = v;
    tr.append(td);
  }
  $('results').tBodies[0].append(tr);
}

function markBest(results) {
  const q = results.filter((r) => r.method !== 'fp32');
  if (!q.length) return;
  const best = q.reduce((a, b) => (b.rel_error < a.rel_error ? b : a));
  const tr = $('results').querySelector(`tr[data-method="${best.method}"]`);
  if (tr) tr.classList.add('best');
}

// Grouped bars: A4W4 (GPU) and A4-only (CPU reference) error per quantized method.
function drawErrors(results) {
  const c = $('errors');
  const g = c.getContext('2d');
  const W = c.width, H = c.height, L = 60, B = 40, T = 40;
  g.clearRect(0, 0, W, H);
  g.fillStyle = '#fff';
  g.fillRect(0, 0, W, H);
  g.fillStyle = '#222';
  g.font = '16px sans-serif';
  g.fillText('Relative output error vs FP32 (lower is better)', L, 22);
  const q = results.filter((r) => r.method !== 'fp32');
  if (!q.length) return;
  const ymax = Math.max(1e-6, ...q.map((r) => Math.max(r.rel_error, r.a4_rel_error))) * 1.15;
  const y = (v) => H - B - (v / ymax) * (H - B - T);
  g.strokeStyle = '#ccc';
  g.font = '12px sans-serif';
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    g.beginPath();
    g.moveTo(L, y(v));
    g.lineTo(W - 10, y(v));
    g.stroke();
    g.fillStyle = '#444';
    g.fillText(v.toFixed(2), 8, y(v) + 4);
  }
  const slot = (W - L - 10) / q.length;
  q.forEach((r, i) => {
    const x0 = L + i * slot;
    const bw = slot * 0.36;
    g.fillStyle = '#2b59c3';
    g.fillRect(x0 + slot * 0.1, y(r.rel_error), bw, y(0) - y(r.rel_error));
    g.fillStyle = '#e07b7b';
    g.fillRect(x0 + slot * 0.1 + bw, y(r.a4_rel_error), bw, y(0) - y(r.a4_rel_error));
    g.fillStyle = '#222';
    g.font = '13px sans-serif';
    g.fillText(r.method, x0 + slot * 0.1, H - B + 18);
    g.font = '11px sans-serif';
    g.fillText(r.rel_error.toFixed(3), x0 + slot * 0.1, y(r.rel_error) - 4);
    g.fillText(r.a4_rel_error.toFixed(3), x0 + slot * 0.1 + bw, y(r.a4_rel_error) - 4);
  });
  legend(g, W - 330, 14, [['#2b59c3', 'A4W4 (GPU)'], ['#e07b7b', 'A4, f32 weights (CPU reference)']]);
}

function legend(g, x, y, items) {
  g.font = '12px sans-serif';
  items.forEach(([color, label], i) => {
    g.fillStyle = color;
    g.fillRect(x + i * 130 - (i ? 30 : 0), y, 12, 12);
    g.fillStyle = '#222';
    g.fillText(label, x + i * 130 - (i ? 30 : 0) + 16, y + 11);
  });
}

// Mean |x| per channel on a log scale: original, rotated, rotated + smoothed (reordered).
function drawMagnitudes(m) {
  const c = $('magnitudes');
  const g = c.getContext('2d');
  const W = c.width, H = c.height, L = 60, B = 30, T = 44;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, W, H);
  g.fillStyle = '#222';
  g.font = '16px sans-serif';
  g.fillText('Mean |x| per channel over tokens (log scale)', L, 22);
  const all = m.flat().filter((v) => v > 0);
  const lo = Math.log10(Math.max(1e-4, Math.min(...all) * 0.5));
  const hi = Math.log10(Math.max(...all) * 2);
  const k = m[0].length;
  const x = (j) => L + (j / Math.max(1, k - 1)) * (W - L - 10);
  const y = (v) => H - B - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (H - B - T);
  g.strokeStyle = '#ddd';
  g.font = '12px sans-serif';
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    g.beginPath();
    g.moveTo(L, y(10 ** e));
    g.lineTo(W - 10, y(10 ** e));
    g.stroke();
    g.fillStyle = '#444';
    g.fillText(`1e${e}`, 14, y(10 ** e) + 4);
  }
  g.fillText('channel', (L + W) / 2 - 20, H - 10);
  g.fillText('0', L, H - 12);
  g.fillText(String(k - 1), x(k - 1) - 30, H - 12);
  const series = [['#d24b4b', 'original'], ['#2b59c3', 'rotated (Hadamard)'],
    ['#1e9e54', 'rotated + runtime smooth (reordered)']];
  series.forEach(([color], s) => {
    g.strokeStyle = color;
    g.lineWidth = 1;
    g.beginPath();
    m[s].forEach((v, j) => (j ? g.lineTo(x(j), y(v)) : g.moveTo(x(j), y(v))));
    g.stroke();
  });
  series.forEach(([color, label], i) => {
    g.fillStyle = color;
    g.fillRect(L + i * 230, 30, 12, 12);
    g.fillStyle = '#222';
    g.fillText(label, L + i * 230 + 16, 41);
  });
}

async function runOnce() {
  running = true;
  const p = params();
  $('results').tBodies[0].replaceChildren();
  const count = new Set(['fp32', ...p.methods]).size;
  let done = 0;
  setStatus('running', `Running ${count} methods…`);
  try {
    const report = JSON.parse(await run(JSON.stringify(p), (row) => {
      const r = JSON.parse(row);
      done += 1;
      if (p.methods.includes(r.method)) addRow(r);
      setStatus('running', `Running: ${done}/${count} done (${r.method})…`);
    }));
    $('workload').textContent = `${report.workload}; FWHT tile ${report.fwht_tile}`;
    markBest(report.results);
    drawErrors(report.results);
    drawMagnitudes(report.magnitudes);
    $('report').textContent = JSON.stringify(report.results);
    $('status').dataset.runs = Number($('status').dataset.runs ?? 0) + 1;
    setStatus('done', `Done in ${(report.total_ms / 1000).toFixed(1)} s.`);
    document.title = 'rrs: done';
  } catch (e) {
    setStatus('error', `Error: ${e.message ?? e}`);
    document.title = 'rrs: error';
  } finally {
    running = false;
  }
  if (pending) {
    pending = false;
    runOnce();
  }
}

function request() {
  if (running) {
    pending = true;
  } else {
    runOnce();
  }
}

async function main() {
  applyQuery();
  if (!('gpu' in navigator)) {
    unsupported('This browser does not expose WebGPU (navigator.gpu is missing). Use a browser '
      + 'with WebGPU enabled: Chrome or Edge 113+, Safari 26+, Firefox 141+ on Windows; or '
      + 'Chromium started with --enable-unsafe-webgpu. The page needs a secure context '
      + '(https or localhost).');
    return;
  }
  await init();
  let info;
  try {
    info = JSON.parse(await start());
  } catch (e) {
    unsupported(`${e.message ?? e}`);
    return;
  }
  showInfo(info);
  let timer;
  form.addEventListener('input', (ev) => {
    if (ev.target.name === 'outlier_strength') {
      form.elements.outlier_strength_out.value = ev.target.value;
    }
    clearTimeout(timer);
    timer = setTimeout(request, 400);
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    request();
  });
  request();
}

main().catch((e) => {
  setStatus('error', `Error: ${e.message ?? e}`);
  document.title = 'rrs: error';
});
