// Rollout: which step, how the evidence stands per metric (n, estimate, interval,
// verdict), why the last transition happened; promote, pause, resume, abort.
import { html } from "htm/preact";

import { api, enc, get } from "../api.js";
import { confirmAction } from "../confirm.js";
import { ago, num, pct } from "../format.js";
import { usePoll } from "../hooks.js";

const ACTIVE = ["progressing", "paused", "promoting", "rolling_back"];

async function load(model) {
  const [rollout, deployment] = await Promise.all([
    get(`/v1/deployments/${enc(model)}/rollout`).catch((e) => (e.status === 404 ? null : Promise.reject(e))),
    get(`/v1/deployments/${enc(model)}`).catch(() => null),
  ]);
  return { rollout, spec: deployment && deployment.rollout };
}

export function RolloutPage({ model }) {
  const { data, error, refresh } = usePoll(() => load(model), 2000, [model]);
  if (error && !data) return html`<p class="error">${error.message}</p>`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  const r = data.rollout;
  if (!r)
    return html`<div class="card" data-testid="no-rollout"><h2>No rollout</h2>
      <p>Start one by applying a spec with a <code>rollout:</code> section, e.g.
      <code>quiver apply -f examples/iris-rollout-promote.yaml</code>.</p></div>`;
  const steps = (data.spec && data.spec.steps) || [];
  const verb = (name, what) => () =>
    confirmAction({
      title: `${name[0].toUpperCase() + name.slice(1)} the rollout of ${model}`,
      changes: [what, `The rollout is ${r.state} at step ${r.step + 1} of ${r.steps}; candidate v${r.candidate} has ${pct(r.candidate_share, 0)} of live traffic.`],
      confirm: name[0].toUpperCase() + name.slice(1),
      run: (reason) => api("POST", `/v1/deployments/${enc(model)}/rollout/${name}`, { reason: reason || `${name} from the console` }),
      done: refresh,
    });
  const active = ACTIVE.includes(r.state);
  return html`
    <section class="card" data-testid="rollout">
      <div class="card-head">
        <h2>v${r.baseline} → v${r.candidate}</h2>
        <span class=${"badge " + r.state} data-testid="rollout-state">${r.state}</span>
        <span class="muted">started ${ago(r.started_at)}, updated ${ago(r.updated_at)}</span>
        <span class="spacer"></span>
        <button disabled=${!active || r.state === "promoting"} onClick=${verb("promote", `Candidate v${r.candidate} takes all live traffic now; the remaining steps are skipped.`)} data-testid="promote">Promote…</button>
        ${r.state === "paused"
          ? html`<button onClick=${verb("resume", "The rollout continues from its current step.")} data-testid="resume">Resume…</button>`
          : html`<button disabled=${r.state !== "progressing"} onClick=${verb("pause", "The rollout holds its current step until resumed; traffic stays as it is.")} data-testid="pause">Pause…</button>`}
        <button class="danger" disabled=${!active} onClick=${verb("abort", `All live traffic goes back to baseline v${r.baseline}; the candidate gets none.`)} data-testid="abort">Abort…</button>
      </div>
      <div class="steps" data-testid="steps">
        ${Array.from({ length: r.steps }, (_, i) => {
          const s = steps[i] || {};
          const cls = i < r.step || r.state === "promoted" ? "done" : i === r.step && active ? "current" : "";
          const label = s.shadow != null ? `shadow ${s.shadow} %` : s.weight != null ? `${s.weight} %` : "hold";
          return html`<div class=${"step " + cls} data-testid=${cls === "current" ? "current-step" : null}>
            <b>Step ${i + 1}</b><span>${label}</span><span class="muted">pause ${s.pause || "–"}</span></div>`;
        })}
      </div>
      <p data-testid="rollout-step">Step <b>${r.step + 1}</b> of ${r.steps} · candidate share <b>${pct(r.candidate_share, 0)}</b>
        · shadow ${num(r.shadow_percent, 0)} % · candidate errors ${r.candidate_errors}/${r.max_candidate_errors}</p>
      <p>Last transition: <b data-testid="rollout-reason">${r.reason}</b></p>
    </section>
    <section class="card">
      <div class="card-head"><h2>Evidence</h2><span class="muted">each metric compares the candidate with the baseline</span></div>
      <table class="grid" data-testid="verdicts">
        <thead><tr><th>Metric</th><th>Verdict</th><th class="num">n</th><th class="num">Estimate</th><th>Interval</th>
          <th class="num">Limit</th><th>Detail</th></tr></thead>
        <tbody>${(r.metrics || []).map((m) => html`<tr class=${m.applies ? "" : "muted"}>
          <td><b>${m.name}</b></td>
          <td><span class=${"badge " + m.verdict}>${m.applies ? m.verdict : "not measured"}</span></td>
          <td class="num">${m.n}</td><td class="num">${num(m.estimate, 4)}</td>
          <td>[${num(m.interval && m.interval[0], 4)}, ${num(m.interval && m.interval[1], 4)}]</td>
          <td class="num">${num(m.limit, 4)}</td><td class="small">${m.detail}</td></tr>`)}</tbody>
      </table>
    </section>`;
}
