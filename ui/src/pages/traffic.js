// Traffic: configured versus observed split, live per-version charts over the last 15
// minutes, shadow agreement, and the weights form.
import { html } from "htm/preact";
import { useMemo, useState } from "preact/hooks";

import { api, enc, get } from "../api.js";
import { Chart } from "../chart.js";
import { confirmAction } from "../confirm.js";
import { colour, ms, num, pct } from "../format.js";
import { usePoll } from "../hooks.js";
import { memo } from "../memo.js";

const REFRESH_MS = 3000;

// The spec as PUT takes it back: the GET answer less what the server adds.
export function specOf(deployment) {
  const spec = { ...deployment };
  for (const k of ["model", "revision", "created_at", "status", "client", "reason"]) delete spec[k];
  return spec;
}

export function TrafficPage({ model }) {
  const dep = usePoll(() => get(`/v1/deployments/${enc(model)}`), REFRESH_MS, [model]);
  const stats = usePoll(() => get(`/v1/deployments/${enc(model)}/stats?window=15m`), REFRESH_MS, [model]);
  if (dep.error && !dep.data)
    return html`<p class="error">${dep.error.status === 404 ? `${model} is not deployed.` : dep.error.message}</p>`;
  if (!dep.data) return html`<p class="muted">Loading…</p>`;
  const d = dep.data;
  return html`
    <div class="traffic">
      <div class="row2">
        <${Split} d=${d} />
        <${Weights} d=${d} model=${model} refresh=${dep.refresh} />
      </div>
      <${VersionTable} d=${d} />
      ${stats.data && html`<${Charts} stats=${stats.data} />`}
      ${stats.error && html`<p class="error">Charts: ${stats.error.message}</p>`}
      <${Shadow} d=${d} />
    </div>`;
}

// The page refreshes every 3 s; with fifty versions, re-rendering every row of every
// table each time (and the charts on a deployment refresh) made the refresh one long
// task. Sections and rows are memoized: a row renders again only when a value it shows
// changed.
function Split({ d }) {
  const versions = d.status.versions || [];
  return html`
    <section class="card" data-testid="split">
      <div class="card-head"><h2>Traffic split</h2><span class="muted">revision ${d.revision}
        ${d.status.serving_revision !== d.revision ? ` (serving ${d.status.serving_revision})` : ""}</span>
        <span class=${"badge " + d.status.state}>${d.status.state}</span></div>
      ${versions.map((v, i) => html`<${SplitRow} key=${v.version} version=${v.version} i=${i}
          configured=${(v.traffic_share * 100).toFixed(1)} observed=${(v.observed_share * 100).toFixed(1)}
          configuredText=${pct(v.traffic_share, 0)} observedText=${pct(v.observed_share, 0)} />`)}
      <p class="muted small">Observed: share of the requests routed since this revision went live.</p>
    </section>`;
}

const SplitRow = memo(({ version, i, configured, observed, configuredText, observedText }) => html`
  <div class="split-row" data-testid=${"split-" + version}>
    <span class="split-label" style=${{ color: colour(i) }}>v${version}</span>
    <div class="bars">
      <div class="bar configured" style=${{ width: configured + "%", background: colour(i) }}></div>
      <div class="bar observed" style=${{ width: observed + "%", background: colour(i) }}></div>
    </div>
    <span class="split-num">configured <b data-testid="configured">${configuredText}</b></span>
    <span class="split-num">observed <b data-testid="observed">${observedText}</b></span>
  </div>`);

// The form depends on the deployment's spec only, which changes with its revision.
const Weights = memo(WeightsForm, (a, b) => a.d.revision === b.d.revision && a.model === b.model);

function WeightsForm({ d, model, refresh }) {
  const versions = (d.versions || []).map((v) => ({ ref: v.version, resolved: v.resolved_version }));
  const current = {};
  const traffic = d.traffic || [];
  const total = traffic.reduce((s, t) => s + t.weight, 0);
  for (const v of versions) {
    const t = traffic.find((x) => x.resolved_version === v.resolved);
    current[v.resolved] = traffic.length ? (t ? (100 * t.weight) / (total || 1) : 0) : v === versions[0] ? 100 : 0;
  }
  const [edit, setEdit] = useState(null);
  const values = edit || Object.fromEntries(Object.entries(current).map(([k, x]) => [k, Math.round(x * 10) / 10]));
  const sum = Object.values(values).reduce((s, x) => s + (Number(x) || 0), 0);
  const submit = (e) => {
    e.preventDefault();
    const changes = versions.map((v) => `v${v.resolved}: ${num(current[v.resolved], 1)} % → ${num((100 * Number(values[v.resolved] || 0)) / sum, 1)} %`);
    changes.push(`A new revision of ${model} (now ${d.revision}); the previous one stays in the history for rollback.`);
    confirmAction({
      title: `Set the traffic weights of ${model}`,
      changes,
      confirm: "Set weights",
      run: (reason) => {
        const spec = specOf(d);
        spec.traffic = versions.map((v) => ({ version: v.ref, weight: Number(values[v.resolved]) || 0 }));
        return api("PUT", `/v1/deployments/${enc(model)}`, spec, reason || "weights set in the console");
      },
      done: () => {
        setEdit(null);
        refresh();
      },
    });
  };
  return html`
    <form class="card weights" onSubmit=${submit} data-testid="weights">
      <div class="card-head"><h2>Weights</h2><span class="muted">relative; shown as percent</span></div>
      ${versions.map((v) => html`
        <label class="weight">v${v.resolved}${v.ref !== String(v.resolved) ? ` (${v.ref})` : ""}
          <input type="number" min="0" step="any" value=${values[v.resolved]} data-testid=${"weight-" + v.resolved}
            onInput=${(e) => setEdit({ ...values, [v.resolved]: e.target.value })} /></label>`)}
      <div class="buttons">
        <span class=${sum > 0 ? "muted" : "error"}>total ${num(sum, 1)}</span>
        <button type="button" disabled=${!edit} onClick=${() => setEdit(null)}>Reset</button>
        <button class="primary" type="submit" disabled=${!edit || !(sum > 0)} data-testid="apply-weights">Apply…</button>
      </div>
    </form>`;
}

function VersionTable({ d }) {
  return html`
    <section class="card">
      <table class="grid" data-testid="live-versions">
        <thead><tr><th>Version</th><th>State</th><th class="num">Ready</th><th class="num">Req/s</th>
          <th class="num">p50</th><th class="num">p99</th><th class="num">Requests</th><th class="num">Errors</th>
          <th class="num">Restarts</th></tr></thead>
        <tbody>${(d.status.versions || []).map((v, i) => html`<${VersionRow} key=${v.version} i=${i} version=${v.version}
          ejected=${!!v.ejected} state=${v.state} ready=${v.ready_instances + "/" + v.instances} rps=${num(v.rps, 1)}
          p50=${ms(v.p50_ms)} p99=${ms(v.p99_ms)} requests=${v.requests} errors=${v.errors} restarts=${v.worker_restarts} />`)}</tbody>
      </table>
    </section>`;
}

const VersionRow = memo((v) => html`<tr>
  <td style=${{ color: colour(v.i) }}><b>v${v.version}</b>${v.ejected ? html` <span class="badge failed">ejected</span>` : ""}</td>
  <td><span class=${"badge " + v.state}>${v.state}</span></td>
  <td class="num">${v.ready}</td>
  <td class="num">${v.rps}</td><td class="num">${v.p50}</td><td class="num">${v.p99}</td>
  <td class="num">${v.requests}</td><td class="num">${v.errors}</td><td class="num">${v.restarts}</td>
</tr>`);

const fmtRate = (v) => num(v, 1);
const fmtShare = (v) => num(v, 0);

// Renders again only when new stats arrive (not on the deployment's own refresh).
const Charts = memo(function Charts({ stats }) {
  const charts = useMemo(() => {
    // The series as the server sends them (no copy) unless they need scaling.
    const mk = (key, scale = 1) =>
      stats.versions.map((v, i) => ({ label: "v" + v.version, colour: colour(i),
                                      values: scale === 1 ? v[key] : v[key].map((x) => (x == null ? null : x * scale)) }));
    return { rate: mk("rate"), p50: mk("p50_ms"), p99: mk("p99_ms"), errors: mk("error_rate", 100), share: mk("share", 100) };
  }, [stats]);
  const t = stats.t;
  return html`
    <section class="card" data-testid="charts">
      <div class="card-head"><h2>Last ${Math.round(stats.window_s / 60)} minutes</h2>
        <span class="muted">a point every ${stats.interval_s} s</span></div>
      ${t.length < 2 ? html`<p class="muted">Collecting… the first points appear a few seconds after traffic starts.</p>` : ""}
      <div class="charts">
        <${Chart} title="Requests / s" t=${t} series=${charts.rate} format=${fmtRate} testid="chart-rate" />
        <${Chart} title="Observed share %" t=${t} series=${charts.share} format=${fmtShare} testid="chart-share" />
        <${Chart} title="p50 latency" t=${t} series=${charts.p50} format=${ms} testid="chart-p50" />
        <${Chart} title="p99 latency" t=${t} series=${charts.p99} format=${ms} testid="chart-p99" />
        <${Chart} title="Errors %" t=${t} series=${charts.errors} format=${fmtRate} testid="chart-errors" />
      </div>
    </section>`;
});

function Shadow({ d }) {
  const rows = d.status.shadow || [];
  const configured = d.shadow || [];
  if (!rows.length && !configured.length) return null;
  return html`
    <section class="card" data-testid="shadow">
      <div class="card-head"><h2>Shadow agreement</h2>
        <span class="muted">${configured.map((s) => `v${s.resolved_version} mirrors ${s.percent} %`).join(", ")}</span></div>
      <table class="grid"><thead><tr><th>Primary</th><th>Shadow</th><th class="num">Compared</th>
        <th class="num">Top-1 agreement</th><th class="num">Mean |diff|</th><th class="num">Max |diff|</th><th class="num">Errors</th></tr></thead>
        <tbody>${rows.map((s) => html`<tr><td>v${s.primary}</td><td>v${s.shadow}</td><td class="num">${s.compared}</td>
          <td class="num"><b>${pct(s.top1_agreement)}</b></td><td class="num">${num(s.mean_abs_diff, 4)}</td>
          <td class="num">${num(s.max_abs_diff, 4)}</td><td class="num">${s.errors}</td></tr>`)}</tbody></table>
      ${!rows.length && html`<p class="muted">No mirrored request compared yet.</p>`}
    </section>`;
}
