// What the cat-photo suites (hipsterize.test.mjs, cli.test.mjs) share: the
// shared photos, a JPEG POST to the worker, /api/detect, eye geometry.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASE, SHARED } from '../harness.mjs';

export const PHOTOS = path.join(SHARED, 'data/cat-photos');
export const photo = (name) => fs.readFileSync(path.join(PHOTOS, name));
export const post = (route, body) => fetch(`${BASE}${route}`, { method: 'POST', body, headers: { 'content-type': 'image/jpeg' } });

export async function detect(bytes) {
  const res = await post('/api/detect', bytes);
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

export const eyes = (cat) => [cat.landmarks.left_eye, cat.landmarks.right_eye];
export const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
export const iod = (cat) => dist(...eyes(cat));
