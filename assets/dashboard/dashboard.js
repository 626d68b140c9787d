// The dashboard page: one EventSource to the server (src/dashboard/hub.ts), which pushes a
// `hello` (the newest frame, the chart history, recent alerts), then a `frame` on every tick and
// change and an `alert` as it happens. The page never polls. Every text that comes from the
// ledger (job labels, task names) is set with textContent: labels are written by other processes.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  let history = [];
  let historyMs = 300000;
  let lastHealth = null;
  let lastFrame = null;

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, String(v));
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  const mib = (v) => (v === null || v === undefined ? '—' : v >= 10240 ? `${(v / 1024).toFixed(1)} GiB` : `${Math.round(v)} MiB`);
  const ms = (v) => (v === null || v === undefined ? '—' : v >= 10000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
  const unit = (v, u) => (v === null || v === undefined ? '—' : `${Math.round(v)} ${u}`);

  function table(cls, head, rows) {
    const body = h('tbody');
    for (const r of rows) body.append(h('tr', {}, ...r.map((c) => h('td', {}, c))));
    return h('table', { class: cls }, h('thead', {}, h('tr', {}, ...head.map((c) => h('th', {}, c)))), body);
  }

  function bar(g) {
    const box = h('div', { class: 'bar', role: 'img' });
    const total = g.totalMiB ?? 0;
    let holder = 0;
    for (const s of g.segments) {
      const seg = h('div', { class: `seg seg-${s.kind}${s.kind === 'holder' ? ` holder-${holder++ % 6}` : ''}`, title: `${s.label}: ${mib(s.mib)}` });
      // CSSOM, not a style attribute: the page's CSP allows no inline styles.
      seg.style.width = `${total > 0 ? (100 * s.mib) / total : 0}%`;
      if (s.mib / total > 0.12) seg.textContent = s.kind === 'holder' ? s.label.split(' · ')[0] : mib(s.mib);
      box.append(seg);
    }
    box.setAttribute('aria-label', g.segments.map((s) => `${s.label} ${mib(s.mib)}`).join(', '));
    return box;
  }

  function card(g) {
    const sums = { holder: 0, outside: 0, reserved: 0, free: 0 };
    for (const s of g.segments) sums[s.kind] += s.mib;
    const title = h('h2', {}, `GPU ${g.index}`, h('span', { class: 'name' }, g.name ?? 'unknown'));
    if (g.group !== null) title.append(h('span', { class: 'group' }, g.group));
    if (!g.usable) title.append(h('span', { class: 'badge bad' }, `not usable: ${g.reason ?? 'unknown'}`));
    const stats = h(
      'p',
      { class: 'stats' },
      `util ${unit(g.utilPercent, '%')} · temp ${unit(g.temperatureC, '°C')} · power ${unit(g.powerW, 'W')}${g.powerLimitW === null ? '' : ` of ${unit(g.powerLimitW, 'W')}`}`,
    );
    const legend = h(
      'p',
      { class: 'legend' },
      `${mib(sums.holder)} declared · ${mib(sums.outside)} outside · ${mib(sums.reserved)} reserved · ${mib(sums.free)} free of ${mib(g.totalMiB)}`,
    );
    const holders = g.holders.length
      ? table(
          'holders',
          ['job', 'task', 'pid', 'VRAM', 'held'],
          g.holders.map((x) => [x.label ?? '', x.task, x.pid, mib(x.vramMiB), ms(x.heldMs)]),
        )
      : h('p', { class: 'none' }, 'no holders');
    const queue = g.queue.length
      ? table(
          'queue',
          ['#', 'priority', 'job', 'task', 'pid', 'VRAM', 'waited', 'ETA'],
          g.queue.map((w) => [w.position + 1, w.priority, w.label ?? '', w.task, w.pid, mib(w.vramMiB), ms(w.waitedMs), ms(w.etaMs)]),
        )
      : h('p', { class: 'none' }, 'queue empty');
    return h(
      'article',
      { class: 'gpu', 'data-id': g.id },
      title,
      bar(g),
      legend,
      stats,
      h('h3', {}, `Holders (${g.holders.length})`),
      holders,
      h('h3', {}, `Queue (${g.queue.length})`),
      queue,
    );
  }

  function addAlert(time, kind, message) {
    const list = $('alerts');
    list.querySelector('.none')?.remove();
    list.prepend(h('li', { class: `alert kind-${kind}` }, h('time', {}, new Date(time).toLocaleTimeString()), h('b', {}, kind), message));
    while (list.children.length > 100) list.lastChild.remove();
  }

  function showHealth(frame) {
    const el = $('health');
    const hl = frame.health;
    el.hidden = hl === null;
    if (hl === null) return;
    el.textContent = `health ${hl.status}`;
    el.className = `health ${hl.status}`;
    el.title = hl.checks.map((c) => `${c.name}: ${c.status} (${c.detail})`).join('\n');
    // A change of verdict is an event of its own in the list (and a first verdict that is not ok).
    if (hl.status !== (lastHealth ?? 'ok')) {
      const bad = hl.checks.filter((c) => c.status !== 'ok').map((c) => `${c.name}: ${c.detail}`);
      addAlert(frame.t, 'health', `${lastHealth ?? 'ok'} → ${hl.status}${bad.length ? `: ${bad.join('; ')}` : ''}`);
    }
    lastHealth = hl.status;
  }

  function render(frame) {
    lastFrame = frame;
    $('title').textContent = frame.title;
    document.title = `${frame.title} — dashboard`;
    $('notes').replaceChildren(...frame.notes.map((n) => h('li', {}, n)));
    $('gpus').replaceChildren(...(frame.gpus.length ? frame.gpus.map(card) : [h('p', { class: 'none' }, 'no GPUs to show')]));
    showHealth(frame);
  }

  function drawCharts() {
    const now = history.length ? history[history.length - 1].t : Date.now();
    const gpus = lastFrame ? lastFrame.gpus : [];
    const perGpu = (key) =>
      gpus.map((g) => ({ name: `${g.group === null ? '' : `${g.group} `}GPU ${g.index}`, values: history.map((p) => [p.t, p[key][g.id] ?? null]) }));
    const one = (key) => [{ name: '', values: history.map((p) => [p.t, p[key]]) }];
    const c = window.GpuCharts;
    c.lineChart($('chart-vram'), { series: perGpu('vramMiB'), windowMs: historyMs, now });
    c.lineChart($('chart-util'), { series: perGpu('utilPercent'), windowMs: historyMs, now, yMax: 100, empty: 'not reported' });
    c.lineChart($('chart-queue'), { series: one('queueLength'), windowMs: historyMs, now });
    c.lineChart($('chart-grants'), { series: one('grantsPerSec'), windowMs: historyMs, now });
    c.lineChart($('chart-wait'), { series: one('waitP95Ms'), windowMs: historyMs, now, empty: 'no grants in the window' });
  }

  const token = new URLSearchParams(location.search).get('token');
  const source = new EventSource(token === null ? 'events' : `events?token=${encodeURIComponent(token)}`);
  const conn = $('conn');
  source.addEventListener('open', () => {
    conn.textContent = 'live';
    conn.className = 'conn live';
  });
  source.addEventListener('error', () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'conn lost';
  });
  source.addEventListener('hello', (e) => {
    const d = JSON.parse(e.data);
    history = d.history;
    historyMs = d.historyMs ?? historyMs;
    $('alerts').replaceChildren(h('li', { class: 'none' }, 'none so far'));
    for (const a of d.alerts) addAlert(a.time, a.kind, a.message);
    if (d.frame !== null) render(d.frame);
    drawCharts();
  });
  source.addEventListener('frame', (e) => {
    const d = JSON.parse(e.data);
    render(d.frame);
    if (d.point !== null) {
      history.push(d.point);
      while (history.length && history[0].t < d.point.t - historyMs) history.shift();
      drawCharts();
    }
  });
  source.addEventListener('alert', (e) => {
    const a = JSON.parse(e.data);
    addAlert(a.time, a.kind, a.message);
  });
})();
