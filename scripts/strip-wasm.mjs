// Drops the Wasm custom sections (the ~1.3 MB function-name section, producers)
// that worker-build keeps: the bundle ships smaller, and the panic messages
// console_error_panic_hook prints do not need them.
//   node scripts/strip-wasm.mjs IN.wasm [OUT.wasm]
import fs from 'node:fs';

const [input, output = input] = process.argv.slice(2);
const b = fs.readFileSync(input);
if (b.readUInt32LE(0) !== 0x6d736100) throw new Error(`${input} is not a Wasm module`);
const kept = [b.subarray(0, 8)];
let p = 8;
const leb = () => { let r = 0; let s = 0; let x; do { x = b[p++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return r; };
while (p < b.length) {
  const start = p;
  const id = b[p++];
  const size = leb();
  const end = p + size;
  if (id !== 0) kept.push(b.subarray(start, end));
  p = end;
}
const out = Buffer.concat(kept);
fs.writeFileSync(output, out);
console.error(`strip-wasm: ${b.length} → ${out.length} bytes`);
