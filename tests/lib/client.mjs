// A small client for the Flotilla API with one method per endpoint, used by the integration
// tests and the benchmark. Every call returns { status, headers, body, text }.
export const BASE = process.env.FLOTILLA_URL;
export const TOKEN = process.env.FLOTILLA_TOKEN;

export async function call(method, path, { body, token = TOKEN, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) { payload = JSON.stringify(body); h['content-type'] = 'application/json'; }
  const res = await fetch(BASE + path, { method, headers: h, body: payload, redirect: 'manual' });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, body: json, text };
}

export const api = {
  createProject: (body = {}, opts) => call('POST', '/__api/projects', { body, ...opts }),
  listProjects: (query = '', opts) => call('GET', `/__api/projects${query}`, opts),
  getProject: (id, opts) => call('GET', `/__api/projects/${id}`, opts),
  updateProject: (id, body, opts) => call('PATCH', `/__api/projects/${id}`, { body, ...opts }),
  deleteProject: (id, opts) => call('DELETE', `/__api/projects/${id}`, opts),
  uploadSession: (id, manifest, opts) => call('POST', `/__api/projects/${id}/assets-upload-session`, { body: { manifest }, ...opts }),
  upload: (id, jwt, files, opts) => call('POST', `/__api/projects/${id}/assets/upload`, { body: files, token: jwt, ...opts }),
  deploy: (id, body, opts) => call('POST', `/__api/projects/${id}/deploy`, { body, ...opts }),
  getDeployment: (depId, opts) => call('GET', `/__api/deployments/${depId}`, opts),
  listDeployments: (id, opts) => call('GET', `/__api/projects/${id}/deployments`, opts),
  deploymentLogs: (depId, query = '', opts) => call('GET', `/__api/deployments/${depId}/logs${query}`, opts),
  rollback: (id, body = {}, opts) => call('POST', `/__api/projects/${id}/rollback`, { body, ...opts }),
  promote: (depId, opts) => call('POST', `/__api/deployments/${depId}/promote`, opts),
  listAliases: (id, opts) => call('GET', `/__api/projects/${id}/aliases`, opts),
  getAlias: (id, name, opts) => call('GET', `/__api/projects/${id}/aliases/${name}`, opts),
  putAlias: (id, name, deploymentId, opts) => call('PUT', `/__api/projects/${id}/aliases/${name}`, { body: { deploymentId }, ...opts }),
  deleteAlias: (id, name, opts) => call('DELETE', `/__api/projects/${id}/aliases/${name}`, opts),
  gc: (id, opts) => call('POST', `/__api/projects/${id}/gc`, opts),
  addDomain: (id, hostname, opts) => call('POST', `/__api/projects/${id}/domains`, { body: { hostname }, ...opts }),
  listDomains: (id, opts) => call('GET', `/__api/projects/${id}/domains`, opts),
  getDomain: (id, hostname, opts) => call('GET', `/__api/projects/${id}/domains/${hostname}`, opts),
  verifyDomain: (id, hostname, opts) => call('POST', `/__api/projects/${id}/domains/${hostname}/verify`, opts),
  deleteDomain: (id, hostname, opts) => call('DELETE', `/__api/projects/${id}/domains/${hostname}`, opts),
};

let counter = 0;
/** A fresh project per test, named after it. */
export async function freshProject(name = 'test') {
  const r = await api.createProject({ name: `${name} ${++counter}` });
  if (r.status !== 201) throw new Error(`createProject: ${r.status} ${r.text}`);
  return r.body.project;
}

/** Asserts the SPEC §3 error envelope and returns it. */
export function expectError(assert, r, status, code, field) {
  assert.equal(r.status, status, `status (body: ${r.text})`);
  assert.equal(r.body?.success, false, r.text);
  assert.equal(r.body.error, code, r.text);
  assert.equal(typeof r.body.message, 'string');
  assert.equal(typeof r.body.requestId, 'string');
  assert.equal(r.headers.get('x-request-id'), r.body.requestId);
  assert.ok(!Number.isNaN(Date.parse(r.body.timestamp)), 'timestamp');
  if (field) assert.equal(r.body.details?.field, field, r.text);
  return r.body;
}
