// Small formatters, so every page writes numbers the same way.
export const pct = (x, digits = 1) => (x == null || Number.isNaN(x) ? "–" : (x * 100).toFixed(digits) + " %");
export const num = (x, digits = 2) => (x == null || Number.isNaN(x) ? "–" : Number(x).toFixed(digits));
export const ms = (x) => (x == null || Number.isNaN(x) ? "–" : x < 10 ? x.toFixed(2) + " ms" : x.toFixed(0) + " ms");

export function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

export function ago(iso) {
  if (!iso) return "";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 60) return Math.max(0, Math.round(s)) + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

export const when = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, " UTC") : "");

// Distinct colours for many versions: hues a golden angle apart.
export function colour(index) {
  const fixed = ["#2563eb", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#a61e4d", "#5c940d"];
  if (index < fixed.length) return fixed[index];
  return `hsl(${(index * 137.508) % 360}, 65%, 45%)`;
}
