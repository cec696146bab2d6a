// Flotilla operator dashboard: vanilla JS, no build step, served from the Worker under a strict
// CSP. It only calls the management API (/__api) of this origin with the signed-in token, kept
// in sessionStorage (this tab only): never in a URL, a cookie or localStorage.
'use strict';

const KEY = 'flotilla.token';
const PENDING = new Set(['queued', 'in_progress']);
// Built and still kept: each has a preview and may become production again (promote).
const READY = new Set(['completed', 'superseded', 'rolled_back']);
const STEPS = ['validate', 'stage', 'verify', 'activate', 'cleanup'];
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(KEY);
let timer = null;
let gen = 0; // bumps on every navigation, so late answers for an old view are dropped

/** h('a', {href, class, onclick}, ...children): children are nodes or text (never HTML). */
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) el.append(kid);
  return el;
}

class ApiError extends Error {
  constructor(status, body, text) {
    super((body && body.message) || text || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error;
    this.requestId = body && body.requestId;
  }
  describe() {
    return `${this.message} (${this.status}${this.code ? ' ' + this.code : ''}${this.requestId ? ', request ' + this.requestId : ''})`;
  }
}

async function api(method, path, body, { raw = false } = {}) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`/__api${path}`, {
    method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  if (!r.ok) {
    const err = new ApiError(r.status, json, text);
    // A revoked or expired token mid-session: back to the sign-in form, saying why.
    if (r.status === 401) signOut(`Signed out: ${err.describe()}`);
    throw err;
  }
  return raw ? text : json;
}

function say(msg, kind = 'info') {
  const s = $('status');
  s.textContent = msg;
  s.className = `status ${kind}`;
  if (kind !== 'error') setTimeout(() => { if (s.textContent === msg) s.textContent = ''; }, 4000);
}
const fail = (e) => say(e instanceof ApiError ? e.describe() : String(e), 'error');
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
const short = (id) => (id || '').slice(0, 8);
const ext = (href, text) => h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, text);

/** A modal confirmation (Esc or Cancel = no). Resolves true only on Confirm. */
function confirmDialog(text, okLabel = 'Confirm') {
  const d = $('confirm');
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = okLabel;
  return new Promise((resolve) => {
    const done = (v) => {
      $('confirm-ok').removeEventListener('click', yes);
      $('confirm-cancel').removeEventListener('click', no);
      d.removeEventListener('cancel', no);
      if (d.open) d.close();
      resolve(v);
    };
    const yes = () => done(true);
    const no = (e) => { if (e) e.preventDefault(); done(false); };
    $('confirm-ok').addEventListener('click', yes);
    $('confirm-cancel').addEventListener('click', no);
    d.addEventListener('cancel', no);
    d.showModal();
    $('confirm-cancel').focus();
  });
}

/** Runs an action from a button: disabled while it runs, errors shown, then `after`. */
async function act(btn, fn, after) {
  if (btn) btn.disabled = true;
  try {
    const msg = await fn();
    if (msg) say(msg, 'ok');
    if (after) await after();
  } catch (e) {
    fail(e);
  } finally {
    if (btn) btn.disabled = false;
  }
}

// ---- sign in / out ----

function signOut(why) {
  token = null;
  sessionStorage.removeItem(KEY);
  clearTimeout(timer);
  $('nav').hidden = true;
  $('view').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = why || '';
  $('token').focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const err = $('signin-error');
  err.textContent = '';
  const candidate = $('token').value.trim();
  if (!candidate) { err.textContent = 'Enter a token.'; return; }
  const btn = ev.submitter || $('signin-form').querySelector('button');
  btn.disabled = true;
  try {
    const r = await fetch('/__api/projects?limit=1', { headers: { authorization: `Bearer ${candidate}` }, cache: 'no-store' });
    if (!r.ok) {
      let body;
      try { body = await r.json(); } catch { body = undefined; }
      const e = new ApiError(r.status, body);
      err.textContent = r.status === 401
        ? `That token was not accepted: ${e.describe()}`
        : `Could not sign in: ${e.describe()}`;
      return;
    }
    token = candidate;
    sessionStorage.setItem(KEY, token);
    $('token').value = '';
    render();
  } catch (e) {
    err.textContent = `Could not reach the API: ${e}`;
  } finally {
    btn.disabled = false;
  }
}

// ---- views ----

function render() {
  clearTimeout(timer);
  gen++;
  if (!token) { signOut(); return; }
  $('signin').hidden = true;
  $('nav').hidden = false;
  const view = $('view');
  view.hidden = false;
  view.replaceChildren();
  const route = location.hash.replace(/^#\/?/, '').split('/');
  for (const a of $('nav').querySelectorAll('a[href^="#"]')) {
    const section = ['tokens', 'storage'].includes(route[0]) ? route[0] : '';
    a.toggleAttribute('aria-current', a.getAttribute('href') === `#/${section}`);
  }
  if (route[0] === 'p' && route[1]) projectView(view, decodeURIComponent(route[1]));
  else if (route[0] === 'tokens') tokensView(view);
  else if (route[0] === 'storage') storageView(view);
  else projectsView(view);
}

function projectsView(view) {
  const list = h('ul', { class: 'cards', id: 'projects' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  let cursor = null;
  const load = async () => {
    const r = await api('GET', `/projects?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    for (const p of r.projects) {
      list.append(h('li', { class: 'card' },
        h('a', { class: 'title', href: `#/p/${encodeURIComponent(p.id)}` }, p.name),
        h('div', { class: 'meta' }, h('code', {}, p.slug), p.enabled ? '' : ' · disabled',
          p.activeDeploymentId ? ` · active ${short(p.activeDeploymentId)}` : ' · nothing deployed'),
        h('div', {}, ext(p.url, p.url))));
    }
    if (!list.children.length) list.append(h('li', { class: 'empty' }, 'No projects yet.'));
    cursor = r.cursor;
    more.hidden = !cursor;
  };
  more.addEventListener('click', () => act(more, load));
  const name = h('input', { id: 'new-project', required: true, maxlength: 100, autocomplete: 'off' });
  const create = h('form', { class: 'row', onsubmit: (e) => {
    e.preventDefault();
    act(e.submitter, async () => {
      const r = await api('POST', '/projects', { name: name.value.trim() });
      location.hash = `#/p/${encodeURIComponent(r.project.id)}`;
      return `Created ${r.project.name}`;
    });
  } }, h('label', { for: 'new-project' }, 'New project'), name, h('button', { type: 'submit' }, 'Create'));
  view.append(h('h1', {}, 'Projects'), create, list, more);
  load().catch(fail);
}

async function projectView(view, id) {
  const mine = gen;
  const head = h('div', {});
  const deps = h('ol', { class: 'cards', id: 'deployments', 'aria-live': 'polite' });
  const aliases = h('ul', { class: 'cards', id: 'aliases' });
  const domains = h('ul', { class: 'cards', id: 'domains' });
  const envs = h('ul', { class: 'cards', id: 'envs' });
  const rollback = h('button', { type: 'button', id: 'rollback' }, 'Roll back');
  view.append(head,
    h('section', { 'aria-labelledby': 'h-deps' },
      h('div', { class: 'row spread' }, h('h2', { id: 'h-deps' }, 'Deployments'), rollback), deps),
    h('section', { 'aria-labelledby': 'h-aliases' }, h('h2', { id: 'h-aliases' }, 'Aliases'), aliases),
    h('section', { 'aria-labelledby': 'h-envs' }, h('h2', { id: 'h-envs' }, 'Environments'), envs),
    h('section', { 'aria-labelledby': 'h-domains' }, h('h2', { id: 'h-domains' }, 'Custom domains'),
      domainForm(id, () => loadDomains()), domains),
    runLogs(id));

  let project;
  const loadProject = async () => {
    project = (await api('GET', `/projects/${encodeURIComponent(id)}`)).project;
    head.replaceChildren(h('h1', {}, project.name),
      h('p', { class: 'meta' }, h('code', {}, project.slug), ' · ', ext(project.url, project.url),
        project.pathUrl ? [' · ', ext(project.pathUrl, 'path URL')] : null,
        project.enabled ? '' : ' · disabled', project.autoActivate ? '' : ' · manual promote'));
  };
  rollback.addEventListener('click', async () => {
    const what = project ? project.name : id;
    if (!await confirmDialog(`Roll ${what} back to the previous good deployment?`, 'Roll back')) return;
    act(rollback, async () => {
      const r = await api('POST', `/projects/${encodeURIComponent(id)}/rollback`, {});
      return `Rolled back: ${short(r.activeDeploymentId)} is active`;
    }, refresh);
  });

  const rows = new Map(); // deployment id -> {sig, el}; unchanged rows keep their nodes (and focus)
  const openLogs = new Set();
  const loadDeps = async () => {
    const r = await api('GET', `/projects/${encodeURIComponent(id)}/deployments?limit=20`);
    const seen = new Set();
    const els = r.deployments.map((d) => {
      seen.add(d.id);
      const sig = JSON.stringify([d.status, d.progress, d.active, d.steps, d.error]);
      const old = rows.get(d.id);
      if (old && old.sig === sig) return old.el;
      const el = deploymentRow(d, id, openLogs, refresh);
      rows.set(d.id, { sig, el });
      return el;
    });
    for (const k of rows.keys()) if (!seen.has(k)) rows.delete(k);
    // Untouched when nothing changed, so the live region announces only real changes.
    const same = els.length > 0 && els.length === deps.children.length && els.every((el, i) => deps.children[i] === el);
    if (!same) deps.replaceChildren(...(els.length ? els : [h('li', { class: 'empty' }, 'No deployments yet.')]));
    return r.deployments.some((d) => PENDING.has(d.status));
  };
  const loadAliases = async () => {
    const r = await api('GET', `/projects/${encodeURIComponent(id)}/aliases`);
    aliases.replaceChildren(...(r.aliases.length ? r.aliases.map((a) => h('li', { class: 'card' },
      h('strong', {}, a.name), ' → ', h('code', {}, short(a.deploymentId)), ' ',
      ext(a.url, 'open'), a.pathUrl ? [' · ', ext(a.pathUrl, 'path URL')] : null))
      : [h('li', { class: 'empty' }, 'No aliases. Set one with the API or the CLI.')]));
  };
  // Which names the server code at each URL gets (README "Environments"); secrets by name only.
  const loadEnvs = async () => {
    const r = await api('GET', `/projects/${encodeURIComponent(id)}/env`);
    const kinds = (a) => [...a.vars.map((n) => `${n}`), ...a.secrets.map((n) => `${n} (secret)`),
      ...Object.entries(a.bindings).map(([n, to]) => `${n} → ${short(to)}`)];
    const targets = Object.entries(r.applies);
    envs.replaceChildren(...(targets.length ? targets.map(([target, a]) => h('li', { class: 'card', 'data-target': target },
      h('strong', {}, target), ': ', kinds(a).flatMap((k, i) => [i ? ', ' : '', h('code', {}, k)])))
      : [h('li', { class: 'empty' }, 'No scoped env. Set it with the API, the CLI (flotilla vars) or MCP.')]));
  };
  const loadDomains = async () => {
    const r = await api('GET', `/projects/${encodeURIComponent(id)}/domains`);
    domains.replaceChildren(...(r.domains.length ? r.domains.map((d) => domainRow(d, id, loadDomains))
      : [h('li', { class: 'empty' }, 'No custom domains.')]));
  };
  async function refresh() {
    await Promise.all([loadProject(), loadDeps(), loadAliases(), loadEnvs()]);
  }
  // Poll: fast while a deployment runs, slowly otherwise; stop when the view changes.
  const poll = async () => {
    if (mine !== gen) return;
    let pending = false;
    try {
      pending = await loadDeps();
    } catch (e) { fail(e); }
    // A background tab polls slowly: nobody is watching, and each poll is a few D1 reads.
    if (mine === gen) timer = setTimeout(poll, document.hidden ? 15000 : pending ? 1000 : 5000);
  };
  try {
    await Promise.all([loadProject(), loadAliases(), loadDomains(), loadEnvs()]);
  } catch (e) {
    if (mine === gen) view.append(h('p', { class: 'error', role: 'alert' }, e instanceof ApiError ? e.describe() : String(e)));
    return;
  }
  poll();
}

/**
 * The kept runs of the project's server code (GET /__api/projects/:id/logs), newest first:
 * filtered by status class and text, paged with "Older runs". Each run shows its request,
 * status and outcome; its console lines and exceptions open below it.
 */
function runLogs(projectId) {
  const list = h('ol', { class: 'cards', id: 'runs', 'aria-live': 'polite' });
  const status = h('select', { id: 'runs-status' },
    [['', 'All'], ['error', 'Errors'], ['2xx', '2xx'], ['4xx', '4xx'], ['5xx', '5xx']].map(([v, t]) => h('option', { value: v }, t)));
  const text = h('input', { id: 'runs-q', type: 'search', maxlength: 200, autocomplete: 'off', spellcheck: 'false' });
  const older = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Older runs');
  let cursor = null;
  const query = () => {
    const q = new URLSearchParams({ limit: '50' });
    if (status.value) q.set('status', status.value);
    if (text.value.trim()) q.set('q', text.value.trim());
    if (cursor) q.set('cursor', cursor);
    return q.toString();
  };
  const load = async (fresh) => {
    if (fresh) cursor = null;
    const r = await api('GET', `/projects/${encodeURIComponent(projectId)}/logs?${query()}`);
    if (fresh) list.replaceChildren();
    for (const run of r.logs) list.append(runRow(run));
    if (!list.children.length) list.append(h('li', { class: 'empty' }, 'No runs of server code kept.'));
    cursor = r.cursor;
    older.hidden = !cursor;
    return fresh ? `${r.count} run${r.count === 1 ? '' : 's'}${cursor ? ' (more below)' : ''}` : undefined;
  };
  const form = h('form', { class: 'row', role: 'search', onsubmit: (e) => { e.preventDefault(); act(e.submitter, () => load(true)); } },
    h('label', { for: 'runs-status' }, 'Status'), status,
    h('label', { for: 'runs-q' }, 'Search runs'), text,
    h('button', { type: 'submit' }, 'Show'));
  older.addEventListener('click', () => act(older, () => load(false)));
  // Live: GET /__api/projects/:id/tail (Server-Sent Events, read with fetch so the bearer token
  // goes in a header), each run put on top as it happens, with the form's filters.
  const live = h('button', { type: 'button', class: 'secondary', id: 'runs-live', 'aria-pressed': 'false' }, 'Follow live');
  let stop;
  const follow = async () => {
    const q = new URLSearchParams();
    if (status.value) q.set('status', status.value);
    if (text.value.trim()) q.set('q', text.value.trim());
    const ctl = new AbortController();
    stop = () => ctl.abort();
    const r = await fetch(`/__api/projects/${encodeURIComponent(projectId)}/tail?${q}`, {
      headers: { authorization: `Bearer ${token}` }, cache: 'no-store', signal: ctl.signal,
    });
    if (!r.ok) {
      let json;
      try { json = JSON.parse(await r.text()); } catch { json = undefined; }
      throw new ApiError(r.status, json, '');
    }
    say('Following live runs');
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!list.isConnected) { ctl.abort(); break; } // the view was left
      buf += value;
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = frame.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
        if (!data) continue;
        try {
          list.querySelector('li.empty')?.remove();
          list.prepend(runRow(JSON.parse(data)));
        } catch { /* a frame that is not a run: skip it */ }
      }
    }
  };
  const setLive = (on) => {
    live.setAttribute('aria-pressed', String(on));
    live.textContent = on ? 'Stop following' : 'Follow live';
  };
  live.addEventListener('click', () => {
    if (stop) { stop(); stop = undefined; setLive(false); return; }
    setLive(true);
    follow().catch((e) => { if (e.name !== 'AbortError') fail(e); }).finally(() => { stop = undefined; setLive(false); });
  });
  load(true).catch(fail);
  return h('section', { 'aria-labelledby': 'h-runs' }, h('h2', { id: 'h-runs' }, 'Runtime logs'), form, live, list, older);
}

function runRow(run) {
  const url = (() => { try { const u = new URL(run.request.url); return u.pathname + u.search; } catch { return run.request.url; } })();
  const lines = [
    ...run.logs.map((l) => `${l.level.padEnd(5)} ${l.message}`),
    ...run.exceptions.map((x) => `${x.name}: ${x.message}${x.stack ? `\n${x.stack}` : ''}`),
    run.droppedLines ? `… ${run.droppedLines} more line${run.droppedLines === 1 ? '' : 's'} not kept` : null,
  ].filter(Boolean);
  const bad = run.level === 'error';
  return h('li', { class: `card run${bad ? ' is-error' : ''}`, 'data-id': run.id },
    h('div', { class: 'row spread' },
      h('span', {}, h('code', {}, `${run.request.method} ${url}`), ' ',
        h('span', { class: `badge ${bad ? 'failed' : 'completed'}` }, run.status === null ? run.outcome : `${run.status} ${run.outcome}`)),
      h('span', { class: 'meta' }, when(run.at), ' · ', h('code', { title: run.deploymentId }, short(run.deploymentId)))),
    lines.length ? h('details', { open: bad }, h('summary', {}, `${lines.length} line${lines.length === 1 ? '' : 's'}`),
      h('pre', { class: 'logs', tabindex: 0 }, lines.join('\n'))) : null);
}

function deploymentRow(d, projectId, openLogs, refresh) {
  const steps = h('ol', { class: 'steps', 'aria-label': 'Steps' }, STEPS.map((s) => {
    const st = (d.steps && d.steps[s] && d.steps[s].status) || 'pending';
    return h('li', { class: `step ${st}`, title: (d.steps[s] && d.steps[s].error) || st }, `${s}: ${st}`);
  }));
  const logs = h('pre', { class: 'logs', tabindex: 0 }, 'Loading…');
  const details = h('details', { open: openLogs.has(d.id) }, h('summary', {}, 'Logs'), logs);
  const loadLogs = async () => {
    try {
      const text = await api('GET', `/deployments/${d.id}/logs?limit=500`, undefined, { raw: true });
      const lines = text.split('\n').filter(Boolean).map((l) => {
        try {
          const x = JSON.parse(l);
          return `${x.at} ${x.level.padEnd(5)} ${x.step || ''} ${x.message}`;
        } catch { return l; }
      });
      logs.textContent = lines.join('\n') || '(no log lines)';
    } catch (e) { logs.textContent = e instanceof ApiError ? e.describe() : String(e); }
  };
  details.addEventListener('toggle', () => {
    if (details.open) { openLogs.add(d.id); loadLogs(); } else openLogs.delete(d.id);
  });
  if (details.open) loadLogs();
  const promote = READY.has(d.status) && !d.active
    ? h('button', { type: 'button', class: 'promote' }, 'Promote') : null;
  if (promote) {
    promote.addEventListener('click', async () => {
      if (!await confirmDialog(`Make deployment ${short(d.id)} the production deployment?`, 'Promote')) return;
      act(promote, async () => {
        await api('POST', `/deployments/${d.id}/promote`);
        return `${short(d.id)} is now active`;
      }, refresh);
    });
  }
  return h('li', { class: `card dep${d.active ? ' is-active' : ''}`, 'data-id': d.id, 'data-status': d.status },
    h('div', { class: 'row spread' },
      h('span', {}, h('code', { title: d.id }, short(d.id)), ' ',
        h('span', { class: `badge ${d.status}` }, d.status.replace('_', ' ')),
        d.active ? h('span', { class: 'badge active-marker' }, 'Active') : null),
      h('span', { class: 'meta' }, when(d.createdAt))),
    h('progress', { max: 100, value: d.progress || 0, 'aria-label': `Progress of ${short(d.id)}` }, `${d.progress || 0}%`),
    steps,
    d.error ? h('p', { class: 'error' }, `${d.errorCode ? d.errorCode + ': ' : ''}${d.error}`) : null,
    h('div', { class: 'row' },
      READY.has(d.status) ? ext(d.previewUrl, 'Preview') : null,
      READY.has(d.status) && d.previewPathUrl ? ext(d.previewPathUrl, 'Preview (path)') : null,
      promote),
    details);
}

function domainForm(projectId, reload) {
  const input = h('input', { id: 'new-domain', required: true, placeholder: 'www.example.com', autocomplete: 'off', spellcheck: 'false' });
  return h('form', { class: 'row', onsubmit: (e) => {
    e.preventDefault();
    act(e.submitter, async () => {
      const r = await api('POST', `/projects/${encodeURIComponent(projectId)}/domains`, { hostname: input.value.trim() });
      input.value = '';
      return `Added ${r.domain.hostname}: publish its TXT record, then verify`;
    }, reload);
  } }, h('label', { for: 'new-domain' }, 'Add domain'), input, h('button', { type: 'submit' }, 'Add'));
}

function domainRow(d, projectId, reload) {
  const base = `/projects/${encodeURIComponent(projectId)}/domains/${encodeURIComponent(d.hostname)}`;
  const verify = h('button', { type: 'button' }, 'Verify');
  verify.addEventListener('click', () => act(verify, async () => {
    const r = await api('POST', `${base}/verify`);
    return `${r.domain.hostname} is ${r.domain.status}`;
  }, reload));
  const remove = h('button', { type: 'button', class: 'danger' }, 'Remove');
  remove.addEventListener('click', async () => {
    if (!await confirmDialog(`Detach ${d.hostname}? It stops serving at once.`, 'Remove')) return;
    act(remove, async () => { await api('DELETE', base); return `Removed ${d.hostname}`; }, reload);
  });
  return h('li', { class: 'card domain' },
    h('div', { class: 'row spread' }, h('strong', {}, d.hostname), h('span', { class: `badge ${d.status}` }, d.status)),
    d.status === 'active' ? null : h('dl', { class: 'txt' },
      h('dt', {}, 'TXT name'), h('dd', {}, h('code', {}, d.verification.name)),
      h('dt', {}, 'TXT value'), h('dd', {}, h('code', {}, d.verification.value))),
    d.lastError ? h('p', { class: 'error' }, d.lastError) : null,
    h('div', { class: 'row' }, d.status === 'active' ? null : verify, remove));
}

// The exports `flotilla env` prints (cli/src/env.rs, sh form) for this platform and a token:
// wrangler, the Cloudflare SDK, OpenNext and cf then talk to this origin, never to Cloudflare.
function envSnippet(token) {
  const q = (v) => `'${v.replaceAll("'", "'\\''")}'`;
  const base = `${location.origin}/client/v4`;
  const vars = [['CLOUDFLARE_API_BASE_URL', base], ['CLOUDFLARE_BASE_URL', base], ['CLOUDFLARE_API_TOKEN', token],
    ['CLOUDFLARE_ACCOUNT_ID', 'flotilla'], ['WRANGLER_SEND_METRICS', 'false'], ['WRANGLER_SEND_ERROR_REPORTS', 'false'],
    ['CLOUDFLARE_CF_FETCH_ENABLED', 'false']];
  return ['# Point wrangler, the Cloudflare SDK, OpenNext and cf at Flotilla (flotilla env)',
    'unset CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL CF_API_KEY CF_EMAIL CLOUDFLARE_API_USER_SERVICE_KEY',
    ...vars.map(([k, v]) => `export ${k}=${q(v)}`)].join('\n');
}

function tokensView(view) {
  const mine = gen;
  const list = h('ul', { class: 'cards', id: 'tokens' });
  const secretBox = h('div', { id: 'secret', 'aria-live': 'polite' });
  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const name = h('input', { id: 't-name', required: true, maxlength: 100, autocomplete: 'off' });
  const projects = h('input', { id: 't-projects', value: '*', spellcheck: 'false', 'aria-describedby': 't-projects-help' });
  const scope = h('select', { id: 't-scope' }, ['read', 'deploy', 'manage', 'admin'].map((s) => h('option', { value: s }, s)));
  const expires = h('input', { id: 't-expires', type: 'date' });
  const load = async () => {
    const r = await api('GET', '/tokens');
    if (mine !== gen) return;
    list.replaceChildren(...(r.tokens.length ? r.tokens.map((t) => tokenRow(t, load))
      : [h('li', { class: 'empty' }, 'No tokens yet.')]));
  };
  const form = h('form', { class: 'card grid', onsubmit: (e) => {
    e.preventDefault();
    act(e.submitter, async () => {
      const p = projects.value.trim();
      const body = {
        name: name.value.trim(),
        projects: p === '*' ? '*' : p.split(/[\s,]+/).filter(Boolean),
        scopes: [scope.value],
      };
      if (expires.value) body.expiresAt = `${expires.value}T23:59:59Z`;
      const r = await api('POST', '/tokens', body);
      const code = h('code', { id: 'secret-value' }, r.secret);
      const copy = h('button', { type: 'button', class: 'secondary' }, 'Copy');
      copy.addEventListener('click', () => navigator.clipboard.writeText(r.secret).then(() => say('Copied', 'ok'), fail));
      secretBox.replaceChildren(h('div', { class: 'card secret', role: 'alert' },
        h('strong', {}, `Secret for “${r.token.name}” — shown this once, store it now:`),
        h('div', { class: 'row' }, code, copy),
        h('p', { class: 'hint' }, 'For wrangler, the Cloudflare SDK, OpenNext or cf, run this in your shell (as flotilla env prints):'),
        h('pre', { id: 'secret-env' }, envSnippet(r.secret))));
      name.value = '';
      return null;
    }, load);
  } },
  field('t-name', 'Name', name),
  field('t-projects', 'Projects', projects),
  h('p', { id: 't-projects-help', class: 'hint' }, '* for all, or project ids/slugs separated by commas.'),
  field('t-scope', 'Scope', scope),
  field('t-expires', 'Expires (optional)', expires),
  h('button', { type: 'submit' }, 'Create token'));
  view.append(h('h1', {}, 'Tokens'), form, secretBox, h('h2', {}, 'Existing tokens'), list);
  load().catch((e) => { fail(e); list.replaceChildren(h('li', { class: 'error' }, e.describe ? e.describe() : String(e))); });
}

// ---- storage (issue 27): the resources server code binds ----

/** Each kind of resource: its API collection, the list and item keys, its name field. */
const STORAGE = [
  { id: 'kv', title: 'KV namespaces', one: 'namespace', path: '/kv/namespaces', list: 'namespaces', name: 'title',
    bind: 'kv' },
  { id: 'sql', title: 'SQL databases', one: 'database', path: '/sql/databases', list: 'databases', name: 'name',
    bind: 'd1' },
  { id: 'bucket', title: 'Buckets', one: 'bucket', path: '/buckets', list: 'buckets', name: 'name', bind: 'bucket' },
];

function storageView(view) {
  view.append(h('h1', {}, 'Storage'),
    h('p', { class: 'hint' }, 'Bind one to server code in a deploy\'s config.bindings ({type, name, id}) or wrangler\'s config.'));
  for (const kind of STORAGE) view.append(storageSection(kind));
}

function storageSection(kind) {
  const mine = gen;
  const list = h('ul', { class: 'cards', id: `storage-${kind.id}` });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  let cursor = null;
  const load = async (reset) => {
    if (reset) { cursor = null; list.replaceChildren(); }
    const r = await api('GET', `${kind.path}?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (mine !== gen) return;
    for (const item of r[kind.list]) list.append(resourceRow(kind, item, () => load(true)));
    if (!list.children.length) list.append(h('li', { class: 'empty' }, `No ${kind.title} yet.`));
    cursor = r.cursor;
    more.hidden = !cursor;
  };
  more.addEventListener('click', () => act(more, () => load(false)));
  const inputId = `new-${kind.id}`;
  const name = h('input', { id: inputId, required: true, maxlength: 512, autocomplete: 'off', spellcheck: 'false' });
  const create = h('form', { class: 'row', onsubmit: (e) => {
    e.preventDefault();
    act(e.submitter, async () => {
      const r = await api('POST', kind.path, { [kind.name]: name.value.trim() });
      name.value = '';
      return `Created ${kind.one} ${r[kind.one][kind.name]}`;
    }, () => load(true));
  } }, h('label', { for: inputId }, `New ${kind.one}`), name, h('button', { type: 'submit' }, 'Create'));
  load(true).catch((e) => { fail(e); list.replaceChildren(h('li', { class: 'error' }, e.describe ? e.describe() : String(e))); });
  return h('section', { class: 'storage' }, h('h2', {}, kind.title), create, list, more);
}

function resourceRow(kind, item, reload) {
  const del = h('button', { type: 'button', class: 'danger' }, 'Delete');
  del.addEventListener('click', async () => {
    if (!await confirmDialog(`Delete the ${kind.one} “${item[kind.name]}” and all its data? This cannot be undone.`, 'Delete')) return;
    act(del, async () => {
      await api('DELETE', `${kind.path}/${encodeURIComponent(item.id)}`);
      return `Deleted ${item[kind.name]}`;
    }, reload);
  });
  const projects = item.projects || [];
  return h('li', { class: 'card' },
    h('div', { class: 'row spread' }, h('strong', {}, item[kind.name]), h('code', {}, item.id)),
    h('div', { class: 'meta' }, projects.length
      ? ['bound to ', ...projects.flatMap((p, i) => [i ? ', ' : '', h('a', { href: `#/p/${encodeURIComponent(p)}` }, short(p))])]
      : 'not bound to any project', ` · created ${when(item.createdAt)}`),
    h('div', { class: 'meta' }, h('code', {}, `{"type":"${kind.bind}","name":"…","id":"${item.id}"}`)),
    h('div', { class: 'row' }, del));
}

function tokenRow(t, reload) {
  const revoke = h('button', { type: 'button', class: 'danger' }, 'Revoke');
  revoke.addEventListener('click', async () => {
    if (!await confirmDialog(`Revoke “${t.name}” and every token minted through it? Anything using them gets 401 at once.`, 'Revoke')) return;
    act(revoke, async () => {
      const r = await api('DELETE', `/tokens/${encodeURIComponent(t.id)}`);
      const more = (r?.revoked ?? 1) - 1;
      return more > 0 ? `Revoked ${t.name} and ${more} token${more === 1 ? '' : 's'} minted through it` : `Revoked ${t.name}`;
    }, reload);
  });
  const projects = t.projects === '*' ? 'all projects' : [].concat(t.projects).join(', ');
  return h('li', { class: 'card' },
    h('div', { class: 'row spread' }, h('strong', {}, t.name), h('span', { class: `badge ${t.status}` }, t.status)),
    h('div', { class: 'meta' }, h('code', {}, t.hint || t.id), ` · ${t.scopes.join(', ')} · ${projects}`),
    h('div', { class: 'meta' }, `created ${when(t.createdAt)} · expires ${when(t.expiresAt)} · last used ${when(t.lastUsedAt)}`),
    t.status === 'active' ? h('div', { class: 'row' }, revoke) : null);
}

document.addEventListener('DOMContentLoaded', () => {
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', () => { signOut(); location.hash = ''; });
  window.addEventListener('hashchange', render);
  render();
});
