// The landing page: every model, its versions with their accuracy, where traffic goes.
import { html } from "htm/preact";

import { enc, get } from "../api.js";
import { bytes, pct } from "../format.js";
import { usePoll } from "../hooks.js";

async function loadModels() {
  const [models, deployments] = await Promise.all([get("/v1/models"), get("/v1/deployments")]);
  const byModel = Object.fromEntries(deployments.map((d) => [d.model, d]));
  return Promise.all(
    models.map(async (m) => {
      let compare = null;
      try {
        compare = m.versions.length ? await get(`/v1/models/${enc(m.name)}/compare?versions=${m.versions.join(",")}`) : null;
      } catch {
        compare = null; // a reader scoped away from compare still sees the list
      }
      const details = await Promise.all(m.versions.map((v) => get(`/v1/models/${enc(m.name)}/versions/${v}`).catch(() => null)));
      return { ...m, deployment: byModel[m.name] || null, compare, details };
    }),
  );
}

export function ModelsPage() {
  const { data, error } = usePoll(loadModels, 5000, []);
  if (error && !data) return html`<p class="error">${error.message}</p>`;
  if (!data) return html`<p class="muted">Loading models…</p>`;
  if (!data.length)
    return html`<div class="card"><h2>No models yet</h2><p>Push one with <code>quiver push model.pt --model NAME</code>.</p></div>`;
  return html`<div class="models" data-testid="models">${data.map((m) => html`<${ModelCard} m=${m} />`)}</div>`;
}

function ModelCard({ m }) {
  const status = m.deployment && m.deployment.status;
  const live = Object.fromEntries(((status && status.versions) || []).map((v) => [v.version, v]));
  const cols = Object.fromEntries(((m.compare && m.compare.versions) || []).map((c) => [c.version, c]));
  const aliasesOf = (v) => Object.entries(m.aliases).filter(([, to]) => to === v).map(([a]) => a);
  return html`
    <section class="card" data-testid=${"model-" + m.name}>
      <div class="card-head">
        <h2><a href=${"#/models/" + enc(m.name)}>${m.name}</a></h2>
        ${status ? html`<span class=${"badge " + status.state}>${status.state}</span>` : html`<span class="badge">not deployed</span>`}
        ${m.deployment && m.deployment.rollout && html`<a class="badge progressing" href=${"#/models/" + enc(m.name) + "/rollout"}>rollout</a>`}
        <span class="spacer"></span>
        <a href=${"#/models/" + enc(m.name) + "/traffic"}>Traffic</a>
        <a href=${"#/models/" + enc(m.name) + "/compare"}>Compare</a>
        <a href=${"#/models/" + enc(m.name) + "/history"}>History</a>
      </div>
      <table class="grid">
        <thead><tr><th>Version</th><th>Aliases</th><th>Description</th><th>Framework</th><th>Size</th>
          <th class="num">Accuracy</th><th class="num">Configured</th><th class="num">Observed</th><th>State</th></tr></thead>
        <tbody>
          ${m.versions.map((v, i) => {
            const d = m.details[i] || {};
            const l = live[v];
            const c = cols[v];
            return html`<tr data-testid=${`row-${m.name}-${v}`}>
              <td><a href=${`#/models/${enc(m.name)}/versions/${v}`}>v${v}</a></td>
              <td>${aliasesOf(v).map((a) => html`<span class="tag">${a}</span>`)}</td>
              <td class="desc">${d.description || ""}</td>
              <td>${d.framework || ""}</td>
              <td>${bytes(d.size)}</td>
              <td class="num" data-testid="accuracy" title=${c && c.accuracy_source ? "from " + c.accuracy_source : ""}>${c ? pct(c.accuracy) : "–"}</td>
              <td class="num">${l ? pct(l.traffic_share, 0) : ""}</td>
              <td class="num">${l ? pct(l.observed_share, 0) : ""}</td>
              <td>${l ? html`<span class=${"badge " + l.state}>${l.state}</span>` : html`<span class="muted">${d.state || ""}</span>`}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    </section>`;
}
