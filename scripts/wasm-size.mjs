// A size profile of a Wasm module by crate: the code bytes of every function,
// grouped by the crate its (demangled) name starts with, from the module's
// name section, plus the data segments. Run it on the module before
// scripts/strip-wasm.mjs drops the names, e.g. cargo's own output:
//
//   node scripts/wasm-size.mjs target/wasm/wasm32-unknown-unknown/wasm/edgecat_worker.wasm [TOP]
import fs from 'node:fs';
import zlib from 'node:zlib';

const [file, top = '25'] = process.argv.slice(2);
const b = fs.readFileSync(file);
let p = 8;
const leb = () => { let r = 0; let s = 0; let x; do { x = b[p++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return r; };
const str = () => { const n = leb(); const v = b.toString('utf8', p, p + n); p += n; return v; };
let imported = 0;
const bodies = []; // [size, start, end]
const names = new Map();
let data = 0;
const sections = {};
while (p < b.length) {
  const id = b[p++];
  const size = leb();
  const end = p + size;
  if (id === 0) {
    const name = str();
    sections[`custom:${name}`] = size;
    if (name === 'name') {
      while (p < end) {
        const sub = b[p++]; const len = leb(); const subEnd = p + len;
        if (sub === 1) { const n = leb(); for (let i = 0; i < n; i++) { const idx = leb(); names.set(idx, str()); } }
        p = subEnd;
      }
    }
  } else {
    sections[id] = (sections[id] || 0) + size;
    if (id === 2) { // imports: count the functions, which take the first indices
      for (let n = leb(), i = 0; i < n; i++) {
        str(); str(); const kind = b[p++];
        if (kind === 0) { leb(); imported++; } else if (kind === 1) { p++; const f = b[p++]; leb(); if (f & 1) leb(); } else if (kind === 2) { const f = b[p++]; leb(); if (f & 1) leb(); } else if (kind === 3) { p += 2; } else { p++; leb(); }
      }
    } else if (id === 10) {
      for (let n = leb(), i = 0; i < n; i++) { const len = leb(); bodies.push([len, p, p + len]); p += len; }
    } else if (id === 11) data = size;
  }
  p = end;
}
// Rust's legacy mangling (_ZN<len><ident>...E): the first path segment,
// unescaped, is enough to name the crate, or the type's crate in an impl.
const legacy = (name) => {
  const m = name.match(/^_ZN(\d+)/);
  if (!m) return name;
  const first = name.substr(3 + m[1].length, Number(m[1]));
  return first.replace(/^_\$/, '$').replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$RF\$/g, '&')
    .replace(/\$u20\$/g, ' ').replace(/\$C\$/g, ',').replace(/\.\./g, '::').replace(/\$[a-zA-Z0-9]+\$/g, '');
};
const crateOf = (raw) => {
  if (!raw) return '(unnamed)';
  const name = legacy(raw);
  const m = name.replace(/^<+/, '').replace(/^(dyn |&(mut )?)/, '').match(/^([A-Za-z_][A-Za-z0-9_]*)(::|$| as )/);
  return m ? m[1] : name.slice(0, 30);
};
const byCrate = new Map();
for (const [i, [len, s, e]] of bodies.entries()) {
  const c = crateOf(names.get(imported + i));
  const o = byCrate.get(c) || { bytes: 0, fns: 0, chunks: [] };
  o.bytes += len; o.fns++; o.chunks.push(b.subarray(s, e));
  byCrate.set(c, o);
}
const code = bodies.reduce((a, [l]) => a + l, 0);
const kb = (x) => (x / 1024).toFixed(0).padStart(6);
console.log(`${file}: ${kb(b.length)} KiB raw, ${kb(zlib.gzipSync(b, { level: 9 }).length)} KiB gzip -9; code ${kb(code)} KiB in ${bodies.length} functions, data ${kb(data)} KiB`);
console.log(`custom sections: ${Object.entries(sections).filter(([k]) => k.startsWith('custom:')).map(([k, v]) => `${k.slice(7)} ${kb(v).trim()} KiB`).join(', ') || 'none'}`);
console.log('crate                         code KiB  gzip KiB  functions');
const rows = [...byCrate.entries()].sort((x, y) => y[1].bytes - x[1].bytes).slice(0, Number(top));
for (const [c, o] of rows) {
  const g = zlib.gzipSync(Buffer.concat(o.chunks), { level: 9 }).length;
  console.log(`${c.padEnd(28)} ${kb(o.bytes)}    ${kb(g)}  ${String(o.fns).padStart(9)}`);
}
