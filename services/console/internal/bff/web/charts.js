// Charts drawn as inline SVG, with no library and no external request. Each
// chart is an <figure> whose SVG has role="img" and a text summary, followed
// by the same numbers as a table (in a <details>), so a screen reader or a
// keyboard user gets every value, not only a picture.
import { h } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";
// Colour-blind safe palette (Okabe-Ito), each at least 3:1 against white.
export const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so the axis
// labels are round numbers.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmt(v, unit) {
  if (unit === "%") return (v * 100).toFixed(1) + "%";
  if (Math.abs(v) >= 10000) return Math.round(v).toLocaleString("en");
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

// axis is a short tick label: 1.5M, 250k; the tables keep the full numbers.
function axis(v, unit) {
  if (unit === "%") return fmt(v, unit);
  const a = Math.abs(v);
  if (a >= 1e6) return +(v / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return +(v / 1e3).toFixed(1) + "k";
  return fmt(v, unit);
}

// chart draws labels (x) against one or more series of numbers, as grouped
// bars ("bar") or lines ("line"). unit "%" takes fractions 0..1.
// opts: {id, title, labels, series: [{name, values}], kind, unit, summary}
export function chart(opts) {
  const { id, title, labels, series, kind = "bar", unit = "" } = opts;
  const fig = h("figure", { class: "chart", id, "data-chart": kind });
  fig.append(h("figcaption", {}, title));
  // The API leaves zero values out of its JSON: a missing value is 0.
  const all = series.flatMap((x) => x.values.map((v) => Number(v) || 0));
  if (!labels.length) return fig;
  const W = 560, H = 220, L = 56, R = 8, T = 10, B = 28;
  const max = unit === "%" ? Math.min(1, niceMax(Math.max(0, ...all))) : niceMax(Math.max(0, ...all));
  const min = Math.min(0, ...all);
  const y = (v) => T + (H - T - B) * (1 - (v - min) / (max - min || 1));
  const band = (W - L - R) / labels.length;
  const summary = opts.summary || (title + ": " + series.map((x) => x.name + " " + x.values.map((v) => fmt(Number(v) || 0, unit)).join(", ")).join("; "));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary, class: "chart-svg", preserveAspectRatio: "xMidYMid meet" });
  svg.append(s("title", {}, summary));
  for (let i = 0; i <= 4; i++) {
    const v = min + (max - min) * i / 4;
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#d5dbe1" }),
      s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#4d5560" }, axis(v, unit)));
  }
  const every = Math.ceil(labels.length / 8);
  labels.forEach((lab, i) => {
    if (i % every === 0) svg.append(s("text", { x: L + band * (i + 0.5), y: H - 8, "text-anchor": "middle", "font-size": 11, fill: "#4d5560" }, lab));
  });
  series.forEach((ser, si) => {
    const color = COLORS[si % COLORS.length];
    if (kind === "line") {
      const pts = ser.values.map((v, i) => [L + band * (i + 0.5), y(Number(v) || 0)]);
      svg.append(s("polyline", { points: pts.map((p) => p.join(",")).join(" "), fill: "none", stroke: color, "stroke-width": 2.5 }));
      pts.forEach(([px, py]) => svg.append(s("circle", { cx: px, cy: py, r: 3.5, fill: color })));
    } else {
      const bw = Math.max(2, (band * 0.8) / series.length);
      ser.values.forEach((v, i) => {
        const n = Number(v) || 0;
        const x0 = L + band * i + band * 0.1 + bw * si;
        svg.append(s("rect", { x: x0, y: Math.min(y(n), y(0)), width: bw - 1, height: Math.max(n === 0 ? 0 : 1, Math.abs(y(0) - y(n))), fill: color }));
      });
    }
  });
  fig.append(svg);
  if (series.length > 1) {
    fig.append(h("ul", { class: "legend" }, series.map((ser, si) => h("li", { "data-color": si % COLORS.length }, h("span", { class: "swatch c" + (si % COLORS.length), "aria-hidden": "true" }), ser.name))));
  }
  fig.append(h("details", {}, h("summary", {}, "Show the numbers"),
    h("table", {}, h("caption", { class: "sr-only" }, title),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Period"), series.map((ser) => h("th", { scope: "col" }, ser.name)))),
      h("tbody", {}, labels.map((lab, i) => h("tr", {}, h("th", { scope: "row" }, lab), series.map((ser) => h("td", {}, fmt(Number(ser.values[i]) || 0, unit)))))))));
  return fig;
}

// monthLabel shows a period start as "Mar 2026".
export function monthLabel(t) {
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString("en", { month: "short", year: "numeric", timeZone: "UTC" });
}

// months returns the first instants of the last n calendar months (UTC),
// oldest first, plus the start of the next month as the end bound.
export function months(n, now = new Date()) {
  const out = [];
  for (let i = n - 1; i >= -1; i--) out.push(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1)));
  return out;
}
