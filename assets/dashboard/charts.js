// Line charts drawn as inline SVG with the platform's DOM: no library, no build step, nothing
// fetched. Used by dashboard.js; the server (src/dashboard/hub.ts) sends one point per tick.
'use strict';

(() => {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 480;
  const H = 170;
  const PAD = { left: 46, right: 8, top: 8, bottom: 34 };
  const COLORS = ['#2f6fde', '#e0751d', '#1f9d55', '#b83280', '#6b46c1', '#c53030', '#2c7a7b', '#975a16'];

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // 1, 2, 5 steps: round axis figures.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function fmt(v) {
    if (v >= 10000) return `${Math.round(v / 1000)}k`;
    if (v >= 100 || Number.isInteger(v)) return String(Math.round(v));
    return v.toFixed(1);
  }

  /**
   * Draws `series` ([{ name, values: [[t, v|null], ...] }]) over the `windowMs` before `now`.
   * A null value breaks the line (unknown is not zero).
   */
  function lineChart(svg, opts) {
    const { series, windowMs, now } = opts;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    let max = opts.yMax ?? 0;
    if (opts.yMax === undefined) for (const s of series) for (const [, v] of s.values) if (v !== null && v > max) max = v;
    max = opts.yMax ?? niceMax(max);
    const x0 = PAD.left;
    const x1 = W - PAD.right;
    const y0 = H - PAD.bottom;
    const y1 = PAD.top;
    const x = (t) => x0 + ((t - (now - windowMs)) / windowMs) * (x1 - x0);
    const y = (v) => y0 - (v / max) * (y0 - y1);
    for (let i = 0; i <= 2; i++) {
      const v = (max * i) / 2;
      svg.appendChild(el('line', { x1: x0, x2: x1, y1: y(v), y2: y(v), class: 'grid' }));
      svg.appendChild(el('text', { x: x0 - 4, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, fmt(v)));
    }
    // Minutes for the usual 5-minute window, seconds for a short one.
    const ago = (ms) => (windowMs >= 120000 ? `-${fmt(ms / 60000)} min` : `-${fmt(ms / 1000)} s`);
    for (const [frac, label] of [
      [0, ago(windowMs)],
      [0.5, ago(windowMs / 2)],
      [1, 'now'],
    ]) {
      const anchor = frac === 0 ? 'start' : frac === 1 ? 'end' : 'middle';
      svg.appendChild(el('text', { x: x0 + frac * (x1 - x0), y: y0 + 14, class: 'tick', 'text-anchor': anchor }, label));
    }
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      let d = '';
      let pen = false;
      for (const [t, v] of s.values) {
        if (t < now - windowMs || v === null || v === undefined) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(Math.min(v, max)).toFixed(1)}`;
        pen = true;
      }
      if (d !== '') svg.appendChild(el('path', { d, class: 'line', stroke: color }));
      if (series.length > 1 || s.name !== '') {
        const lx = x0 + 4 + i * 110;
        svg.appendChild(el('rect', { x: lx, y: H - 12, width: 10, height: 3, fill: color }));
        svg.appendChild(el('text', { x: lx + 14, y: H - 8, class: 'legend' }, s.name));
      }
    });
    if (series.every((s) => s.values.every(([, v]) => v === null))) {
      svg.appendChild(el('text', { x: (x0 + x1) / 2, y: (y0 + y1) / 2, class: 'empty', 'text-anchor': 'middle' }, opts.empty ?? 'no data yet'));
    }
  }

  window.GpuCharts = { lineChart };
})();
