// One model: a tab per question (what is there, where traffic goes, what the rollout
// is doing, how versions compare, what changed).
import { html } from "htm/preact";

import { enc } from "../api.js";
import { ComparePage } from "./compare.js";
import { HistoryPage } from "./history.js";
import { RolloutPage } from "./rollout.js";
import { TrafficPage } from "./traffic.js";
import { VersionsPage } from "./versions.js";

const TABS = [
  ["versions", "Versions"],
  ["traffic", "Traffic"],
  ["rollout", "Rollout"],
  ["compare", "Compare"],
  ["history", "History"],
];

export function ModelPage({ model, tab, extra }) {
  const pages = { versions: VersionsPage, traffic: TrafficPage, rollout: RolloutPage, compare: ComparePage, history: HistoryPage };
  const Page = pages[tab] || VersionsPage;
  return html`
    <div class="model-head">
      <h1>${model}</h1>
      <nav class="tabs">
        ${TABS.map(([id, label]) => html`<a class=${id === tab ? "active" : ""} href=${`#/models/${enc(model)}/${id}`}
          data-testid=${"tab-" + id}>${label}</a>`)}
      </nav>
    </div>
    <${Page} model=${model} extra=${extra} />`;
}
