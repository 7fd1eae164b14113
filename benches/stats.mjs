// What every bench script reads its figures with.

/** The median (upper middle for an even count); NaN for none. */
export const median = (v) => { const s = [...v].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };

/** The p-th percentile, nearest rank. */
export const pct = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };

/** `Server-Timing: decode;dur=1.2, ...` → { decode: 1.2, ... } */
export function serverTiming(res) {
  const out = {};
  for (const part of (res.headers.get('server-timing') || '').split(',')) {
    const m = part.trim().match(/^([a-z_]+);dur=([\d.]+)/);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}
