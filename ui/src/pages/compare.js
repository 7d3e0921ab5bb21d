// Two versions side by side: quality, confusion matrix, latency histogram, agreement.
import { html } from "htm/preact";
import { useState } from "preact/hooks";

import { enc, get } from "../api.js";
import { bytes, colour, ms, num, pct, when } from "../format.js";
import { usePoll } from "../hooks.js";

async function load(model, a, b) {
  const m = await get(`/v1/models/${enc(model)}`);
  const versions = m.versions;
  const pick = [a || versions[0], b || versions[1] || versions[0]].map(Number);
  const quality = (v) => get(`/v1/models/${enc(model)}/versions/${v}/quality`).catch(() => null);
  const evaluation = (v) => get(`/v1/models/${enc(model)}/versions/${v}/evaluations`).then((e) => e[0] || null).catch(() => null);
  const [cmp, qa, qb, ea, eb, stats] = await Promise.all([
    get(`/v1/models/${enc(model)}/compare?versions=${pick.join(",")}`),
    quality(pick[0]), quality(pick[1]), evaluation(pick[0]), evaluation(pick[1]),
    get(`/v1/deployments/${enc(model)}/stats?window=15m`).catch(() => null),
  ]);
  // Live feedback when there is some, else the latest offline evaluation.
  const confusion = (q, e) =>
    q && q.n > 0 ? { ...q, source: "live feedback" } : e && e.metrics && e.metrics.confusion ? { ...e.metrics, n: e.n, source: "evaluation " + when(e.created_at) } : null;
  return { versions, pick, cols: cmp.versions, quality: [confusion(qa, ea), confusion(qb, eb)], latency: stats && stats.latency };
}

export function ComparePage({ model }) {
  const [sel, setSel] = useState([null, null]);
  const { data, error } = usePoll(() => load(model, sel[0], sel[1]), 5000, [model, sel[0], sel[1]]);
  if (error && !data) return html`<p class="error">${error.message}</p>`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  const choose = (i) => (e) => setSel(i === 0 ? [e.target.value, data.pick[1]] : [data.pick[0], e.target.value]);
  const rows = [
    ["State", (c) => c.state],
    ["Accuracy", (c) => html`${pct(c.accuracy)} <span class="muted small">${c.accuracy_source || ""}</span>`],
    ["F1", (c) => num(c.f1, 3)],
    ["Requests", (c) => c.requests],
    ["Error rate", (c) => pct(c.error_rate, 2)],
    ["p50", (c) => ms(c.p50_ms)],
    ["p99", (c) => ms(c.p99_ms)],
    ["Shadow agreement", (c) => pct(c.shadow_agreement)],
    ["Compute s", (c) => num(c.compute_seconds, 3)],
    ["Memory", (c) => (c.memory_mb != null ? bytes(c.memory_mb * 1048576) : "–")],
  ];
  return html`
    <section class="card" data-testid="compare">
      <div class="card-head"><h2>Compare</h2>
        ${[0, 1].map((i) => html`<select value=${data.pick[i]} onChange=${choose(i)} data-testid=${"compare-" + i}>
          ${data.versions.map((v) => html`<option value=${v}>v${v}</option>`)}</select>`)}</div>
      <table class="grid compare">
        <thead><tr><th></th>${data.cols.map((c, i) => html`<th style=${{ color: colour(i) }}>v${c.version}</th>`)}</tr></thead>
        <tbody>${rows.map(([label, f]) => html`<tr><th>${label}</th>${data.cols.map((c) => html`<td>${f(c)}</td>`)}</tr>`)}</tbody>
      </table>
    </section>
    <div class="row2">
      ${data.pick.map((v, i) => html`<section class="card"><h3>Confusion matrix, v${v}</h3>
        <${Confusion} q=${data.quality[i]} /></section>`)}
    </div>
    <section class="card"><h3>Latency histogram (since each version loaded)</h3>
      <${Histogram} latency=${data.latency} pick=${data.pick} /></section>`;
}

function Confusion({ q }) {
  if (!q || !q.confusion || !q.n)
    return html`<p class="muted">No labelled feedback (<code>POST /v1/feedback</code>) or evaluation (<code>quiver eval</code>) yet.</p>`;
  const max = Math.max(1, ...q.confusion.flat());
  const label = (i) => (q.per_class && q.per_class[i] && q.per_class[i].label) || i;
  return html`<table class="confusion"><thead><tr><th>truth \\ predicted</th>${q.confusion.map((_, j) => html`<th>${label(j)}</th>`)}</tr></thead>
    <tbody>${q.confusion.map((row, i) => html`<tr><th>${label(i)}</th>${row.map((x, j) => html`<td
      class=${i === j ? "diag" : ""} style=${{ opacity: 0.35 + (0.65 * x) / max }}>${x}</td>`)}</tr>`)}</tbody></table>
    <p class="small">n = ${q.n}, accuracy ${pct(q.accuracy)}, macro F1 ${num(q.macro_f1, 3)} <span class="muted">(${q.source})</span></p>`;
}

// Columns per latency bucket, each version's share of its own requests side by side.
function Histogram({ latency, pick }) {
  if (!latency || !latency.bounds_ms.length) return html`<p class="muted">No served request yet.</p>`;
  const series = pick.map((v) => latency.versions.find((x) => x.version === v));
  const totals = series.map((s) => (s ? s.counts.reduce((a, b) => a + b, 0) : 0));
  const share = (i, k) => (series[i] && totals[i] ? series[i].counts[k] / totals[i] : 0);
  const top = Math.max(0.01, ...latency.bounds_ms.flatMap((_, k) => [share(0, k), share(1, k)]));
  const every = Math.max(1, Math.ceil(latency.bounds_ms.length / 12));
  return html`<div class="histogram" data-testid="histogram">
    <div class="hcols">${latency.bounds_ms.map((b, k) => html`<div class="hcol" title=${"≤ " + (b == null ? "∞" : ms(b))}>
      <div class="hpair">${[0, 1].map((i) => html`<div class="hbar" style=${{ height: (100 * share(i, k)) / top + "%", background: colour(i) }}></div>`)}</div>
      <span class="hlabel">${k % every === 0 ? (b == null ? "∞" : ms(b)) : ""}</span></div>`)}</div>
    <p class="small">${pick.map((v, i) => html`<span style=${{ color: colour(i) }}>■</span> v${v} (${totals[i]} requests) `)}
      <span class="muted">· share of each version's successful requests per latency bucket (upper edge)</span></p>
  </div>`;
}
