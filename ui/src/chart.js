// A live time-series chart (uPlot): one line per version. The plot is made once and
// then only fed new data, so refreshing every few seconds stays cheap even with fifty
// versions; it is made again only when the set of versions changes.
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

// t: unix seconds; series: [{label, values, colour}]; format: value -> text.
export function Chart({ title, t, series, format, height = 170, testid }) {
  const box = useRef(null);
  const plot = useRef(null);
  const shape = useRef("");
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const key = series.map((s) => s.label).join("|");
    const data = [t, ...series.map((s) => s.values)];
    if (plot.current && shape.current === key) {
      plot.current.setData(data);
      return;
    }
    if (plot.current) plot.current.destroy();
    shape.current = key;
    plot.current = new uPlot(
      {
        width: Math.max(240, el.clientWidth),
        height,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [{ stroke: "#555", grid: { stroke: "#eee" } },
               { stroke: "#555", grid: { stroke: "#eee" }, size: 72, values: (u, vals) => vals.map((v) => format(v)) }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.colour, width: 1.5, spanGaps: false,
                                             value: (u, v) => (v == null ? "–" : format(v)) }))],
      },
      data,
      el,
    );
  }, [t, series]);
  useEffect(() => {
    const el = box.current;
    const observer = new ResizeObserver(() => {
      if (plot.current) plot.current.setSize({ width: Math.max(240, el.clientWidth), height });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      if (plot.current) plot.current.destroy();
      plot.current = null;
    };
  }, []);
  return html`<div class="chart" data-testid=${testid}><h3>${title}</h3><div ref=${box}></div></div>`;
}
