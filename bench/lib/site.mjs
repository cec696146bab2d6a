// Deterministic generator for a realistic static site: nested html pages (directory index.html
// files and flat pages), css, js bundles, json, svg and incompressible binary blobs (png-,
// woff2-, jpg-like), mixed sizes from a few hundred bytes to ~1 MiB plus a couple of larger
// images. Same seed + same file count => byte-identical site (so hashes are stable across runs).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut '
  + 'labore et dolore magna aliqua deploy worker edge cache asset route project static site build '
  + 'release preview domain request response header bucket manifest upload hash stream').split(' ');

/** Log-uniform size in [min, max]. */
function sizeBetween(r, min, max) {
  return Math.round(Math.exp(Math.log(min) + r() * (Math.log(max) - Math.log(min))));
}

function words(r, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(r() * WORDS.length)]);
  return out.join(' ');
}

/** Text of exactly `size` bytes: head + filler lines + tail (ASCII only). */
function textOfSize(r, size, head, tail, line) {
  let body = head;
  while (body.length + tail.length < size) body += line(r);
  body = body.slice(0, Math.max(0, size - tail.length)) + tail;
  return Buffer.from(body.length > size ? body.slice(0, size) : body, 'latin1');
}

function binaryOfSize(r, size, magic) {
  const buf = Buffer.allocUnsafe(size);
  let x = (Math.floor(r() * 0xffffffff) | 1) >>> 0;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  for (; i < size; i++) buf[i] = Math.floor(r() * 256);
  magic.copy(buf, 0, 0, Math.min(magic.length, size));
  return buf;
}

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPG = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
const WOFF2 = Buffer.from('wOF2', 'latin1');

function html(r, title, size) {
  const head = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${title}</title>`
    + '<link rel="stylesheet" href="/assets/css/site-0.css"><script defer src="/assets/js/app-0.js"></script>'
    + `</head>\n<body><h1>${title}</h1>\n`;
  return textOfSize(r, size, head, '\n</body></html>\n',
    (q) => `<p>${words(q, 12 + Math.floor(q() * 20))}</p>\n`);
}

/**
 * Builds the file list (path -> Buffer) for `count` files (>= 20).
 * Roughly: 40% html, 5% css, 13% js, 10% json, 14% svg, 18% binary, of which `largeImages`
 * are 2-3 MiB images (the rest 1 KiB - 800 KiB).
 */
export function buildSite(count = 300, seed = 20261122, largeImages = 2) {
  const r = rng(seed);
  const files = new Map();
  const add = (path, buf) => { if (!files.has(path)) files.set(path, buf); };
  add('/index.html', html(r, 'Home', 6_000));
  add('/404.html', html(r, 'Not found', 1_500));
  const n = Math.max(20, count) - 2;
  const quota = {
    html: Math.round(n * 0.40), css: Math.round(n * 0.05), js: Math.round(n * 0.13),
    json: Math.round(n * 0.10), svg: Math.round(n * 0.14),
  };
  quota.bin = n - quota.html - quota.css - quota.js - quota.json - quota.svg;
  const sections = ['docs', 'blog', 'guides', 'api', 'changelog', 'about'];
  for (let i = 0; i < quota.html; i++) {
    const sec = sections[i % sections.length];
    const size = sizeBetween(r, 800, 60_000);
    // Half directory pages (…/name/index.html), half flat pages (…/name.html), 1-3 levels deep.
    const depth = 1 + (i % 3);
    const parts = [sec];
    for (let d = 1; d < depth; d++) parts.push(`part-${Math.floor(r() * 4)}`);
    const path = i % 2 === 0 ? `/${parts.join('/')}/page-${i}/index.html` : `/${parts.join('/')}/page-${i}.html`;
    add(path, html(r, `Page ${i}`, size));
  }
  for (let i = 0; i < quota.css; i++) {
    add(`/assets/css/site-${i}.css`, textOfSize(r, sizeBetween(r, 1_000, 80_000), `/* site ${i} */\n`, '\n',
      (q) => `.c${Math.floor(q() * 1e6)} { margin: ${Math.floor(q() * 40)}px; color: #${Math.floor(q() * 0xffffff).toString(16).padStart(6, '0')}; }\n`));
  }
  for (let i = 0; i < quota.js; i++) {
    // Two big bundles (~1 MiB), the rest chunk-sized.
    const size = i < 2 ? 900_000 + Math.floor(r() * 150_000) : sizeBetween(r, 400, 250_000);
    add(`/assets/js/${i === 0 ? 'app-0' : `chunk-${i}`}.js`, textOfSize(r, size, `"use strict";\n`, '\n',
      (q) => `function f${Math.floor(q() * 1e7)}(a,b){return a*${Math.floor(q() * 100)}+b; /* ${words(q, 6)} */}\n`));
  }
  for (let i = 0; i < quota.json; i++) {
    add(`/data/item-${i}.json`, textOfSize(r, sizeBetween(r, 200, 100_000), '{"items":[', '{}]}\n',
      (q) => `{"id":${Math.floor(q() * 1e6)},"name":"${words(q, 3)}","ok":${q() < 0.5}},`));
  }
  for (let i = 0; i < quota.svg; i++) {
    add(`/assets/icons/icon-${i}.svg`, textOfSize(r, sizeBetween(r, 300, 20_000),
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">', '</svg>\n',
      (q) => `<circle cx="${Math.floor(q() * 100)}" cy="${Math.floor(q() * 100)}" r="${Math.floor(q() * 30)}"/>`));
  }
  for (let i = 0; i < quota.bin; i++) {
    const kind = i % 3;
    // `largeImages` larger images (2-3 MiB; only png/jpg slots), the rest 1 KiB - 800 KiB.
    const size = kind !== 2 && Math.floor(i / 3) * 2 + kind < largeImages ? 2_000_000 + Math.floor(r() * 1_000_000) : sizeBetween(r, 1_024, 800_000);
    if (kind === 0) add(`/assets/img/photo-${i}.png`, binaryOfSize(r, size, PNG));
    else if (kind === 1) add(`/assets/img/photo-${i}.jpg`, binaryOfSize(r, size, JPG));
    else add(`/assets/fonts/font-${i}.woff2`, binaryOfSize(r, Math.min(size, 200_000), WOFF2));
  }
  return files;
}

/** Canonical visitor URL path for a file under html_handling = "auto-trailing-slash". */
export function canonicalPath(path) {
  if (path === '/index.html') return '/';
  if (path.endsWith('/index.html')) return path.slice(0, -'index.html'.length);
  if (path.endsWith('.html')) return path.slice(0, -'.html'.length);
  return path;
}

/** Writes the site under `dir` and returns [{path, url, size, hash, buf}] sorted by path. */
export function writeSite(dir, count, seed, largeImages) {
  const files = buildSite(count, seed, largeImages);
  const out = [];
  for (const [path, buf] of [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const abs = join(dir, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, buf);
    out.push({ path, url: canonicalPath(path), size: buf.length, hash: createHash('sha256').update(buf).digest('hex'), buf });
  }
  return out;
}
