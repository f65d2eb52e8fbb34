// Line charts of per-second series, drawn as SVG: no library, and a
// text summary for screen readers.

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// lineChart draws series ([{name, cls, values}], equally long, one value
// a second, the last one now) in a figure with title and a summary.
export function lineChart({ title, unit, series, summary }) {
  const n = series.length ? series[0].values.length : 0;
  const W = 900;
  const H = 160;
  const scale = niceMax(Math.max(1, ...series.flatMap((s) => s.values)));
  const fig = document.createElement('figure');
  fig.className = 'chart';
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `${title}: ${summary}` });
  for (const f of [0.25, 0.5, 0.75]) chart.append(svg('line', { x1: 0, x2: W, y1: H * f, y2: H * f, class: 'grid' }));
  for (const s of series) {
    const pts = s.values.map((v, i) => `${((i / Math.max(1, n - 1)) * W).toFixed(1)},${(H - (v / scale) * (H - 4)).toFixed(1)}`);
    chart.append(svg('polyline', { points: pts.join(' '), class: `line ${s.cls}`, 'vector-effect': 'non-scaling-stroke' }));
  }
  const axis = document.createElement('div');
  axis.className = 'axis';
  axis.setAttribute('aria-hidden', 'true');
  axis.append(span('15 min ago'), span('now'));
  const top = document.createElement('div');
  top.className = 'scale muted small';
  top.setAttribute('aria-hidden', 'true');
  top.textContent = `top line: ${fmt(scale)} ${unit}`;
  const legend = document.createElement('ul');
  legend.className = 'legend';
  legend.setAttribute('aria-hidden', 'true');
  for (const s of series) {
    const li = document.createElement('li');
    li.className = s.cls;
    li.textContent = s.name;
    legend.append(li);
  }
  const text = document.createElement('p');
  text.className = 'muted small';
  text.textContent = summary;
  fig.append(cap, top, chart, axis, legend, text);
  return fig;
}

function span(t) {
  const s = document.createElement('span');
  s.textContent = t;
  return s;
}

function fmt(v) {
  return v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}

// niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
