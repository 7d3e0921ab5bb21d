// History: every revision of the deployment (roll back to any of them) and the audit
// timeline of the model, manual and automatic changes alike.
import { html } from "htm/preact";

import { api, enc, get } from "../api.js";
import { confirmAction } from "../confirm.js";
import { ago, when } from "../format.js";
import { usePoll } from "../hooks.js";

const summary = (spec) => {
  if (!spec) return "";
  const t = spec.traffic || [];
  const total = t.reduce((s, x) => s + x.weight, 0) || 1;
  const split = t.length
    ? t.map((x) => `v${x.resolved_version ?? x.version} ${Math.round((100 * x.weight) / total)} %`).join(" · ")
    : (spec.versions || []).map((v) => "v" + (v.resolved_version ?? v.version)).join(", ");
  return split + (spec.rollout ? " · rollout" : "") + (spec.shadow && spec.shadow.length ? " · shadow" : "");
};

export function HistoryPage({ model }) {
  const history = usePoll(() => get(`/v1/deployments/${enc(model)}/history`), 5000, [model]);
  const audit = usePoll(() => get(`/v1/audit?model=${enc(model)}`), 5000, [model]);
  const revisions = history.data || [];
  const current = revisions.length ? revisions[0].revision : null;
  const rollback = (rev) =>
    confirmAction({
      title: `Roll back ${model} to revision ${rev.revision}`,
      changes: [`Now (revision ${current}): ${summary(revisions[0].spec)}`, `After: ${summary(rev.spec)}`,
                `Applied as a new revision; revision ${current} stays in the history.`],
      confirm: "Roll back",
      run: (reason) => api("POST", `/v1/deployments/${enc(model)}/rollback`, { revision: rev.revision }, reason || "rollback from the console"),
      done: () => {
        history.refresh();
        audit.refresh();
      },
    });
  return html`
    <section class="card" data-testid="history">
      <div class="card-head"><h2>Revisions</h2></div>
      ${history.error && html`<p class="error">${history.error.message}</p>`}
      <table class="grid">
        <thead><tr><th>Revision</th><th>When</th><th>Who</th><th>Why</th><th>Traffic</th><th></th></tr></thead>
        <tbody>${revisions.map((r) => html`<tr data-testid=${"revision-" + r.revision}>
          <td><b>${r.revision}</b>${r.revision === current ? html` <span class="tag">current</span>` : ""}${r.deleted ? html` <span class="tag">deleted</span>` : ""}</td>
          <td title=${when(r.created_at)}>${ago(r.created_at)}</td><td class="small">${r.client}</td><td>${r.reason}</td>
          <td class="small">${summary(r.spec)}</td>
          <td>${r.revision !== current && !r.deleted && html`<button onClick=${() => rollback(r)} data-testid=${"rollback-" + r.revision}>Roll back to this…</button>`}</td>
        </tr>`)}</tbody>
      </table>
    </section>
    <section class="card" data-testid="audit">
      <div class="card-head"><h2>Audit timeline</h2></div>
      ${audit.error
        ? html`<p class="muted">${audit.error.status === 403 ? "The audit log needs an admin token." : audit.error.message}</p>`
        : html`<ol class="timeline">${(audit.data || []).map((e) => html`<li>
            <span class="when" title=${when(e.at)}>${when(e.at)}</span>
            <b>${e.action}</b> <span class="muted">${e.client}</span>
            ${e.reason && html` — ${e.reason}`}
            ${e.detail && e.detail.revision != null && html` <span class="tag">r${e.detail.revision}</span>`}
          </li>`)}</ol>`}
    </section>`;
}
