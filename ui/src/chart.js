// A live time-series chart (uPlot): one line per version. The plot is made once and
// then only fed new data (setData), so a refresh every few seconds stays cheap even
// with fifty versions; it is made again only when the set of versions changes.
//
// All charts of a page share one update queue: each chart redraws in its own animation
// frame, so a refresh is several short tasks rather than one long one (with fifty
// series, five charts redrawn together held the main thread for over 100 ms on a
// loaded machine).
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

// Beyond this many series a chart has no legend of its own (fifty rows under each of
// five charts were half of the page's elements, laid out and painted again at every
// refresh): the colours are those of the version labels in the page's split and table.
export const LEGEND_MAX_SERIES = 12;

const pending = new Map();  // chart -> its latest update, run one per frame
let frame = 0;

function runOne() {
  frame = 0;
  const next = pending.entries().next();
  if (next.done) return;
  const [key, update] = next.value;
  pending.delete(key);
  update();
  if (pending.size) frame = requestAnimationFrame(runOne);
}

// Runs `update` in a later animation frame, one chart per frame; a newer update of the
// same chart replaces one not yet run.
export function scheduleUpdate(key, update) {
  pending.set(key, update);
  if (!frame) frame = requestAnimationFrame(runOne);
}

function cancelUpdate(key) {
  pending.delete(key);
}

// t: unix seconds; series: [{label, values, colour}]; format: value -> text.
export function Chart({ title, t, series, format, height = 170, testid }) {
  const box = useRef(null);
  const plot = useRef(null);
  const shape = useRef("");
  const self = useRef({});  // this chart's key in the update queue
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const key = series.map((s) => s.label).join("|");
    const data = [t, ...series.map((s) => s.values)];
    if (plot.current && shape.current === key) {
      const p = plot.current;
      scheduleUpdate(self.current, () => {
        if (plot.current === p) p.setData(data);
      });
      return;
    }
    cancelUpdate(self.current);
    if (plot.current) plot.current.destroy();
    shape.current = key;
    const many = series.length > LEGEND_MAX_SERIES;
    plot.current = new uPlot(
      {
        width: Math.max(240, el.clientWidth),
        height,
        legend: { show: !many, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [{ stroke: "#555", grid: { stroke: "#eee" } },
               { stroke: "#555", grid: { stroke: "#eee" }, size: 72, values: (u, vals) => vals.map((v) => format(v)) }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.colour, width: 1.5, spanGaps: false,
                                             // a dot per point per series is most of the drawing with many
                                             ...(many ? { points: { show: false } } : {}),
                                             value: (u, v) => (v == null ? "–" : format(v)) }))],
      },
      data,
      el,
    );
  }, [t, series]);
  useEffect(() => {
    const el = box.current;
    const observer = new ResizeObserver(() => {
      const width = Math.max(240, el.clientWidth);
      if (plot.current && plot.current.width !== width) plot.current.setSize({ width, height });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      cancelUpdate(self.current);
      if (plot.current) plot.current.destroy();
      plot.current = null;
    };
  }, []);
  return html`<div class="chart" data-testid=${testid}><h3>${title}</h3><div class="chart-plot" ref=${box}></div></div>`;
}
