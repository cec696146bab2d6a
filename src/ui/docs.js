// Renders /openapi.json as a readable page with a curl example per operation and request and
// response examples (the document's own, else generated from its schemas). Self-contained:
// no CDN, no framework; served under the same strict CSP as the dashboard.
'use strict';

const $ = (id) => document.getElementById(id);
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) el.append(kid);
  return el;
}

/** Text with `code` spans as <code> (the document's descriptions use Markdown backticks). */
const md = (text) => String(text || '').split(/`([^`]+)`/).map((part, i) => (i % 2 ? h('code', {}, part) : part));

let spec;
const deref = (s) => {
  for (let i = 0; s && s.$ref && i < 20; i++) {
    s = s.$ref.replace(/^#\//, '').split('/').reduce((o, k) => (o ? o[k.replace(/~1/g, '/').replace(/~0/g, '~')] : o), spec);
  }
  return s || {};
};

/** An illustrative value for a schema (its example, const, default, enum, or by type/format/name). */
function sample(schema, name = '', depth = 0) {
  const s = deref(schema);
  if (depth > 8) return null;
  if ('example' in s) return s.example;
  if (Array.isArray(s.examples) && s.examples.length) return s.examples[0];
  if ('const' in s) return s.const;
  if ('default' in s) return s.default;
  if (Array.isArray(s.enum)) return s.enum[0];
  const alt = s.oneOf || s.anyOf;
  if (alt) return sample(alt.find((x) => deref(x).type !== 'null') || alt[0], name, depth + 1);
  if (s.allOf) return Object.assign({}, ...s.allOf.map((x) => sample(x, name, depth + 1)));
  let type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (!type && s.properties) type = 'object';
  switch (type) {
    case 'object': {
      const out = {};
      for (const [k, v] of Object.entries(s.properties || {})) out[k] = sample(v, k, depth + 1);
      if (!s.properties && s.additionalProperties && typeof s.additionalProperties === 'object') {
        out[name === 'manifest' ? '/index.html' : 'key'] = sample(s.additionalProperties, '', depth + 1);
      }
      return out;
    }
    case 'array': return [sample(s.items || {}, name, depth + 1)];
    case 'integer': case 'number': return s.minimum ?? 0;
    case 'boolean': return true;
    case 'null': return null;
    case 'string': return stringFor(s, name);
    default: return null;
  }
}

function stringFor(s, name) {
  if (s.format === 'date-time' || /At$/.test(name)) return '2026-12-01T12:00:00.000Z';
  if (s.format === 'uuid' || /^(id|projectId|deploymentId|activeDeploymentId)$/.test(name)) return '3f0c9a52-6e1b-4c7d-9a8e-2b5d4f1e7c90';
  if (s.format === 'uri' || /[uU]rl$/.test(name)) return 'https://my-site-k3x9.example.dev/';
  if (name === 'hash') return 'a'.repeat(64);
  if (name === 'slug') return 'my-site-k3x9';
  if (name === 'hostname') return 'www.example.com';
  if (name === 'requestId') return '9b1f3c2a7d4e5f60718293a4';
  return name || 'string';
}

const pretty = (v) => JSON.stringify(v, null, 2);
const shq = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

function curl(method, path, op, body) {
  const security = op.security || spec.security || [];
  const lines = [`curl -sS -X ${method.toUpperCase()} "$FLOTILLA_URL${path.replace(/\{(\w+)\}/g, (_, p) => `<${p}>`)}"`];
  if (security.length) lines.push(security.some((x) => 'uploadJwt' in x) && !security.some((x) => 'bearer' in x)
    ? '-H "authorization: Bearer $UPLOAD_JWT"' : '-H "authorization: Bearer $FLOTILLA_TOKEN"');
  if (body !== undefined) lines.push(`-H 'content-type: application/json' -d ${shq(JSON.stringify(body))}`);
  return lines.join(' \\\n  ');
}

function paramsTable(params) {
  if (!params.length) return null;
  return h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'parameter'), h('th', {}, 'in'), h('th', {}, 'schema'), h('th', {}, 'description'))),
    h('tbody', {}, params.map((p0) => {
      const p = deref(p0);
      const s = deref(p.schema);
      return h('tr', {}, h('td', {}, h('code', {}, p.name), p.required ? ' *' : ''), h('td', {}, p.in),
        h('td', {}, h('code', {}, [].concat(s.type || (s.enum ? 'enum' : 'any')).join('|'),
          s.enum ? ` ${s.enum.join(', ')}` : '', s.minimum !== undefined ? ` ≥${s.minimum}` : '', s.maximum !== undefined ? ` ≤${s.maximum}` : '')),
        h('td', {}, md(p.description || s.description)));
    })));
}

function example(content) {
  const c = content && (content['application/json'] || content['application/x-ndjson'] || Object.values(content)[0]);
  if (!c) return undefined;
  if ('example' in c) return c.example;
  if (c.examples) return deref(Object.values(c.examples)[0]).value;
  return sample(c.schema);
}

function operation(path, method, op, item) {
  const id = `${method}-${path}`.replace(/[^a-zA-Z0-9]+/g, '-');
  const params = [...(item.parameters || []), ...(op.parameters || [])];
  const req = op.requestBody ? deref(op.requestBody) : null;
  const reqExample = req ? example(req.content) : undefined;
  const parts = [
    op.description ? h('p', { class: 'desc' }, md(op.description)) : null,
    paramsTable(params),
    h('h3', {}, 'Example request'),
    h('pre', { tabindex: 0 }, curl(method, path, op, req && req.content && req.content['application/json'] ? reqExample : undefined)),
  ];
  if (req && reqExample !== undefined) {
    const type = Object.keys(req.content || {})[0] || '';
    parts.push(h('h3', {}, `Request body${req.required ? '' : ' (optional)'} `, h('code', {}, type)), h('pre', { tabindex: 0 }, pretty(reqExample)));
  }
  parts.push(h('h3', {}, 'Responses'));
  for (const [status, r0] of Object.entries(op.responses || {})) {
    const r = deref(r0);
    const ex = example(r.content);
    const d = h('details', { open: /^2/.test(status) ? '' : null }, h('summary', {}, h('strong', {}, status), ' ', md(r.description)));
    if (r.headers) d.append(h('p', { class: 'meta' }, 'Headers: ', Object.keys(r.headers).join(', ')));
    d.append(ex === undefined ? h('p', { class: 'meta' }, 'No body.') : h('pre', { tabindex: 0 }, typeof ex === 'string' ? ex : pretty(ex)));
    parts.push(d);
  }
  return h('details', { class: 'card op', id },
    h('summary', {}, h('span', { class: `m ${method}` }, method.toUpperCase()), h('code', {}, path), h('span', {}, md(op.summary))),
    parts);
}

fetch('/openapi.json').then((r) => r.json()).then((doc) => {
  spec = doc;
  document.title = `${doc.info.title} API ${doc.info.version}`;
  $('title').textContent = `${doc.info.title} API`;
  $('desc').replaceChildren(...md(doc.info.description));
  const ops = $('ops');
  ops.replaceChildren();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete', 'head'].includes(method)) continue;
      const el = operation(path, method, op, item);
      ops.append(el);
      $('toc').append(h('li', {}, h('a', { href: `#${el.id}` }, h('span', { class: `m ${method}` }, method.toUpperCase()), path)));
    }
  }
  const open = () => { const t = location.hash && document.getElementById(location.hash.slice(1)); if (t) t.open = true; };
  window.addEventListener('hashchange', open);
  open();
}).catch((e) => { $('ops').textContent = `Could not load the API description: ${e}`; });
