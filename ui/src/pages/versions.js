// Versions: everything registered, with its signature, artifact and evidence; aliases
// can be moved here.
import { html } from "htm/preact";
import { useState } from "preact/hooks";

import { api, enc, get } from "../api.js";
import { confirmAction } from "../confirm.js";
import { bytes, num, pct, when } from "../format.js";
import { usePoll } from "../hooks.js";

async function load(model) {
  const m = await get(`/v1/models/${enc(model)}`);
  const versions = await Promise.all(
    m.versions.map(async (v) => {
      const [record, evaluations, quality] = await Promise.all([
        get(`/v1/models/${enc(model)}/versions/${v}`),
        get(`/v1/models/${enc(model)}/versions/${v}/evaluations`).catch(() => []),
        get(`/v1/models/${enc(model)}/versions/${v}/quality`).catch(() => null),
      ]);
      return { ...record, evaluations, quality };
    }),
  );
  return { aliases: m.aliases, versions };
}

const tensors = (list) =>
  (list || []).map((t) => html`<div><code>${t.name}</code> ${t.datatype} [${(t.shape || []).join(", ")}]</div>`);

export function VersionsPage({ model, extra }) {
  const { data, error, refresh } = usePoll(() => load(model), 10000, [model]);
  if (error && !data) return html`<p class="error">${error.message}</p>`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  const focus = extra && extra[0] ? Number(extra[0]) : null;
  return html`
    <${Aliases} model=${model} aliases=${data.aliases} versions=${data.versions.map((v) => v.version)} refresh=${refresh} />
    ${data.versions.slice().reverse().map((v) => html`<${Version} v=${v} aliases=${data.aliases} open=${focus === v.version} />`)}`;
}

function Version({ v, aliases, open }) {
  const names = Object.entries(aliases).filter(([, to]) => to === v.version).map(([a]) => a);
  const latest = v.evaluations && v.evaluations[0];
  const q = v.quality;
  return html`
    <section class=${"card version" + (open ? " focus" : "")} data-testid=${"version-" + v.version}>
      <div class="card-head">
        <h2>v${v.version}</h2>
        ${names.map((a) => html`<span class="tag">${a}</span>`)}
        <span class=${"badge " + v.state}>${v.state}</span>
        <span class="muted">${v.description}</span>
      </div>
      <div class="cols3">
        <dl>
          <dt>Framework</dt><dd>${v.framework}</dd>
          <dt>Size</dt><dd>${bytes(v.size)}</dd>
          <dt>Created</dt><dd>${when(v.created_at)}</dd>
          <dt>sha256</dt><dd><code class="sha" title=${v.artifact}>${v.artifact}</code></dd>
          <dt>Signed by</dt><dd>${v.signed_by || html`<span class="muted">unsigned</span>`}</dd>
          ${Object.entries(v.metadata || {}).map(([k, val]) => html`<dt>${k}</dt><dd>${val}</dd>`)}
        </dl>
        <div><h3>Inputs</h3>${tensors(v.inputs)}<h3>Outputs</h3>${tensors(v.outputs)}</div>
        <div>
          <h3>Quality</h3>
          ${latest
            ? html`<div>Evaluation: accuracy <b data-testid="eval-accuracy">${pct(latest.metrics && latest.metrics.accuracy)}</b>
                on ${latest.n} rows, macro F1 ${num(latest.metrics && latest.metrics.macro_f1, 3)}
                <span class="muted small">(${when(latest.created_at)})</span></div>`
            : html`<div class="muted">No offline evaluation (<code>quiver eval</code>).</div>`}
          ${q && q.n > 0
            ? html`<div>Live feedback: accuracy <b>${pct(q.accuracy)}</b>, macro F1 ${num(q.macro_f1)} over ${q.n}</div>`
            : html`<div class="muted">No live feedback yet.</div>`}
        </div>
      </div>
    </section>`;
}

function Aliases({ model, aliases, versions, refresh }) {
  const [name, setName] = useState("");
  const [target, setTarget] = useState(String(versions[versions.length - 1] || ""));
  const move = (alias, to) => {
    const from = aliases[alias];
    confirmAction({
      title: `Move alias “${alias}” of ${model}`,
      changes: [from ? `${alias}: v${from} → v${to}` : `${alias}: new alias on v${to}`,
                "Requests pinned to this alias, and deployments that name it, follow it."],
      confirm: "Move alias",
      run: (reason) => api("PUT", `/v1/models/${enc(model)}/aliases/${enc(alias)}`, { version: Number(to) }, reason),
      done: refresh,
    });
  };
  return html`
    <section class="card" data-testid="aliases">
      <div class="card-head"><h2>Aliases</h2></div>
      <table class="grid narrow"><tbody>
        ${Object.entries(aliases).map(([a, v]) => html`<tr><td><span class="tag">${a}</span></td><td>v${v}</td>
          <td><${MoveAlias} versions=${versions} current=${v} onMove=${(to) => move(a, to)} /></td></tr>`)}
        <tr><td><input placeholder="alias" value=${name} onInput=${(e) => setName(e.target.value)} size="12" /></td>
          <td><select value=${target} onChange=${(e) => setTarget(e.target.value)}>
            ${versions.map((v) => html`<option value=${v}>v${v}</option>`)}</select></td>
          <td><button disabled=${!name.trim()} onClick=${() => move(name.trim(), target)}>Set alias</button></td></tr>
      </tbody></table>
    </section>`;
}

function MoveAlias({ versions, current, onMove }) {
  const [to, setTo] = useState(String(current));
  return html`<select value=${to} onChange=${(e) => setTo(e.target.value)}>
      ${versions.map((v) => html`<option value=${v}>v${v}</option>`)}</select>
    <button disabled=${Number(to) === current} onClick=${() => onMove(to)}>Move</button>`;
}
