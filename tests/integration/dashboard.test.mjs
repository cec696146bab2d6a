// The operator dashboard (/__dashboard) in a real headless Chromium (Debian's, driven by npm
// playwright-core): sign in, watch a deployment appear and complete, roll back and see the
// active marker move, a wrong token's error, domains and tokens, the strict CSP with no
// violations, and a phone-sized viewport without horizontal overflow. Screenshots go to
// tests/artifacts/dashboard/ (gitignored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { api, call, BASE, TOKEN, freshProject } from '../lib/client.mjs';
import { deploySite, visit, request, sleep } from '../lib/site.mjs';
import { ROOT } from '../lib/server.mjs';

const ARTIFACTS = join(ROOT, 'tests', 'artifacts', 'dashboard');
const DASH = `${BASE}/__dashboard`;
let browser;

before(async () => {
  // Installs Debian's chromium on first use (apt, ~2 min); returns at once when present.
  execFileSync('bash', [join(ROOT, 'scripts', 'ensure-chromium.sh')], { stdio: 'inherit' });
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});
after(async () => { await browser?.close(); });

/** A fresh browser context + page that records CSP violations, console errors and page errors. */
async function openPage(viewport = { width: 1100, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return { context, page, problems };
}

async function signIn(page, token = TOKEN) {
  await page.goto(DASH);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const shot = (page, name, fullPage = true) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage });

test('the dashboard is served on the platform host with a strict CSP, versioned assets and ETags', async () => {
  const r = await fetch(DASH);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy');
  for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "form-action 'none'"]) {
    assert.ok(csp.includes(d), `CSP has ${d}: ${csp}`);
  }
  assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), csp);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const html = await r.text();
  const js = html.match(/src="(\/__dashboard\/app\.js\?v=[0-9a-f]+)"/)?.[1];
  assert.ok(js, 'the page references a versioned app.js');
  assert.ok(!/<script>|<style|\son\w+=/.test(html), 'no inline script, style or handler');

  const a = await fetch(BASE + js);
  assert.equal(a.status, 200);
  assert.match(a.headers.get('content-type'), /^text\/javascript/);
  assert.equal(a.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  const again = await fetch(DASH, { headers: { 'if-none-match': r.headers.get('etag') } });
  assert.equal(again.status, 304);
  assert.equal((await fetch(`${DASH}/nope.js`)).status, 404);

  // The docs page is self-contained under the same policy.
  const docs = await fetch(`${BASE}/docs`);
  assert.equal(docs.status, 200);
  assert.equal(docs.headers.get('content-security-policy'), csp);
  assert.ok(!/(src|href)="https?:/.test(await docs.text()), 'docs load nothing from another origin');
});

test('a project origin never serves the dashboard', async () => {
  const p = await freshProject('dash origin');
  await deploySite(p.id, { '/index.html': '<h1>tenant</h1>' }, { config: { not_found_handling: 'single-page-application' } });
  for (const path of ['/__dashboard', '/__dashboard/app.js', '/__dashboard/app.css']) {
    const r = await visit(path, { host: `${p.slug}.localhost`, headers: { accept: 'text/html' } });
    // The tenant's own SPA fallback answers, not the platform's dashboard.
    assert.ok(!r.body.includes('Flotilla dashboard') && !r.body.includes('flotilla.token'), `${path}: ${r.body.slice(0, 200)}`);
    assert.equal(r.headers['content-security-policy'], undefined, path);
  }
  const pathMode = await visit(`/__project/${p.slug}/__dashboard`, { headers: { accept: 'text/html' } });
  assert.ok(!pathMode.body.includes('Flotilla dashboard'), pathMode.body.slice(0, 200));
});

test('a wrong token shows a clear error and is not kept', async () => {
  const { context, page, problems } = await openPage();
  await signIn(page, 'flt_' + '0'.repeat(48));
  const err = page.locator('#signin-error');
  await err.getByText('not accepted').waitFor();
  assert.match(await err.textContent(), /401/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('flotilla.token')), null);
  assert.ok(await page.locator('#signin').isVisible());
  await shot(page, 'wrong-token');
  assert.deepEqual(problems.filter((p) => !/401/.test(p)), [], 'no console errors besides the refused request');
  await context.close();
});

test('sign in, watch a deployment complete, read its logs, roll back and see the active marker move', async () => {
  const p = await freshProject('dash flow');
  const first = await deploySite(p.id, { '/index.html': '<h1>one</h1>' });
  const v1 = first.deploy.deployment.id;
  assert.equal((await api.putAlias(p.id, 'staging', v1)).status, 200);

  const { context, page, problems } = await openPage({ width: 960, height: 620 });
  await signIn(page);
  await page.getByRole('link', { name: p.name }).click();
  await page.getByRole('heading', { name: p.name }).waitFor();
  const row = (id) => page.locator(`#deployments li[data-id="${id}"]`);
  await row(v1).locator('.active-marker').waitFor();
  const alias = page.locator('#aliases li', { hasText: 'staging' }).getByRole('link', { name: 'open' });
  assert.match(await alias.getAttribute('href'), new RegExp(`^http://staging--${p.slug}\\.`));
  // Which env applies where: set through the API, shown per target, secrets by name only.
  await page.locator('#envs li.empty').waitFor();
  assert.equal((await call('PUT', `/__api/projects/${p.id}/env/preview/API_URL`, { body: { value: 'https://p.example' } })).status, 201);
  assert.equal((await call('PUT', `/__api/projects/${p.id}/env/production/DB_PASSWORD`, { body: { type: 'secret', value: 'hidden-value' } })).status, 201);
  await page.reload();
  await page.locator('#envs li[data-target="preview"]', { hasText: 'API_URL' }).waitFor();
  const prodEnv = await page.locator('#envs li[data-target="production"]').textContent();
  assert.match(prodEnv, /DB_PASSWORD \(secret\)/);
  assert.ok(!(await page.content()).includes('hidden-value'), 'a secret value never reaches the page');
  await page.getByRole('heading', { name: p.name }).waitFor();

  // The token lives in this tab's sessionStorage only: never in the URL or localStorage.
  assert.equal(await page.evaluate(() => sessionStorage.getItem('flotilla.token')), TOKEN);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.ok(!page.url().includes(TOKEN));

  // A deployment made elsewhere (the API, async) appears and completes without a reload.
  const second = await deploySite(p.id, { '/index.html': '<h1>two</h1>' }, { expect: 202, headers: { prefer: 'respond-async' } });
  const v2 = second.deploy.deployment.id;
  await row(v2).waitFor({ timeout: 15_000 });
  await page.locator(`#deployments li[data-id="${v2}"][data-status="completed"] .active-marker`).waitFor({ timeout: 30_000 });
  assert.equal(await row(v1).locator('.active-marker').count(), 0, 'only one deployment is marked active');
  assert.equal(await row(v2).locator('progress').getAttribute('value'), '100');
  const preview = row(v2).getByRole('link', { name: 'Preview', exact: true });
  assert.match(await preview.getAttribute('href'), new RegExp(`^http://${v2.slice(0, 8)}--${p.slug}\\.`));

  await shot(page, 'deployments-viewport', false); // the README's docs/dashboard.png is one of these

  await row(v2).locator('summary', { hasText: 'Logs' }).click();
  await row(v2).locator('pre.logs').getByText(/activate/).waitFor();
  await shot(page, 'deployments');

  // Roll back: confirmation first (Cancel changes nothing), then the marker moves to v1.
  await page.locator('#rollback').click();
  await page.locator('#confirm-cancel').click();
  assert.equal((await api.getProject(p.id)).body.project.activeDeploymentId, v2);
  await page.locator('#rollback').click();
  assert.ok(await page.locator('#confirm').isVisible());
  await page.locator('#confirm-ok').click();
  await row(v1).locator('.active-marker').waitFor();
  assert.equal(await row(v2).locator('.active-marker').count(), 0);
  assert.equal((await api.getProject(p.id)).body.project.activeDeploymentId, v1);
  await page.locator(`#deployments li[data-id="${v2}"][data-status="rolled_back"]`).waitFor();

  // Promote moves it back, again behind the dialog.
  await row(v2).getByRole('button', { name: 'Promote' }).click();
  await page.locator('#confirm-ok').click();
  await row(v2).locator('.active-marker').waitFor();
  assert.equal((await api.getProject(p.id)).body.project.activeDeploymentId, v2);

  // Domains: attaching shows the TXT record to publish.
  const host = `www.dash-${p.slug}.example.com`;
  await page.getByLabel('Add domain').fill(host);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  const dom = page.locator('#domains li', { hasText: host });
  await dom.getByText(`_flotilla-challenge.${host}`).waitFor();
  const want = (await api.getDomain(p.id, host)).body.domain.verification.value;
  await dom.getByText(want).waitFor();
  await shot(page, 'project');

  assert.deepEqual(problems, [], 'no console errors or CSP violations');
  await context.close();
});

test('a failing deployment shows its steps live, then the failure; the active one stays', async () => {
  const p = await freshProject('dash failing');
  const good = (await deploySite(p.id, { '/index.html': '<h1>good</h1>' })).deploy.deployment.id;
  const { context, page, problems } = await openPage();
  await signIn(page);
  await page.goto(`${DASH}#/p/${p.id}`);
  await page.locator(`#deployments li[data-id="${good}"] .active-marker`).waitFor();
  // FAULT_INJECTION (test server only): verify throws on every attempt, retried with backoff.
  const bad = (await deploySite(p.id, { '/index.html': '<h1>bad</h1>' }, {
    expect: 202, headers: { prefer: 'respond-async' }, extra: { fault: 'verify' },
  })).deploy.deployment.id;
  const row = page.locator(`#deployments li[data-id="${bad}"]`);
  // Seen while it runs: the poll shows it pending with its steps, before it ends.
  await page.locator(`#deployments li[data-id="${bad}"]:is([data-status="queued"], [data-status="in_progress"])`).waitFor({ timeout: 15_000 });
  await page.locator(`#deployments li[data-id="${bad}"][data-status="failed"]`).waitFor({ timeout: 90_000 });
  assert.match(await row.locator('.step.failed').textContent(), /verify: failed/);
  assert.match(await row.locator('p.error').textContent(), /retries_exhausted/);
  assert.equal(await row.getByRole('button', { name: 'Promote' }).count(), 0, 'a failed deployment cannot be promoted');
  assert.equal(await page.locator(`#deployments li[data-id="${good}"] .active-marker`).count(), 1);
  await shot(page, 'failed');
  assert.deepEqual(problems, []);
  await context.close();
});

test('tokens: a new secret is shown once, then only its metadata is listed', async () => {
  const { context, page, problems } = await openPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Tokens' }).click();
  const name = `dash ${Date.now()}`;
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Scope').selectOption('read');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = await page.locator('#secret-value').textContent();
  assert.match(secret, /^flt_[0-9a-f]{48}$/);
  const item = page.locator('#tokens li', { hasText: name });
  await item.waitFor();
  assert.ok(!(await item.textContent()).includes(secret), 'the list never shows the secret');
  // The new token works (read scope), and the dashboard says what it may not do.
  assert.equal((await api.listProjects('', { token: secret })).status, 200);
  {
    const reader = await openPage();
    await signIn(reader.page, secret);
    await reader.page.getByRole('link', { name: 'Tokens' }).click();
    await reader.page.locator('#tokens li.error', { hasText: '403' }).waitFor();
    assert.match(await reader.page.locator('#status').textContent(), /admin/);
    await reader.context.close();
  }
  await item.getByRole('button', { name: 'Revoke' }).click();
  await page.locator('#confirm-ok').click();
  await item.locator('.badge', { hasText: 'revoked' }).waitFor();
  assert.equal((await api.listProjects('', { token: secret })).status, 401);
  await page.reload();
  assert.equal(await page.locator('#secret-value').count(), 0, 'the secret is gone after a reload');
  await shot(page, 'tokens');
  assert.deepEqual(problems, []);
  await context.close();
});

test('storage: KV namespaces are listed with the projects that bind them, created and deleted', async () => {
  const title = `dash-ns-${Date.now()}`;
  const bound = await call('POST', '/__api/kv/namespaces', { body: { title: `${title}-bound` } });
  assert.equal(bound.status, 201, bound.text);
  const p = await freshProject('dash storage');
  const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from('export default { fetch() { return new Response("x"); } }').toString('base64') } };
  await deploySite(p.id, { '/index.html': 'x' }, { config: { bindings: [{ type: 'kv', name: 'C', id: bound.body.namespace.id }] }, extra: { serverCode } });
  const { context, page, problems } = await openPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Storage', exact: true }).click();
  await page.getByLabel('New namespace').fill(title);
  await page.getByRole('button', { name: 'Create' }).first().click();
  const item = page.locator('#storage-kv li', { hasText: title }).filter({ hasNotText: `${title}-bound` });
  await item.waitFor();
  assert.match(await page.locator('#status').textContent(), new RegExp(`Created namespace ${title}`));
  assert.match(await item.textContent(), /not bound to any project/);
  const listed = await call('GET', '/__api/kv/namespaces?limit=100');
  const made = listed.body.namespaces.find((n) => n.title === title);
  assert.ok(made, 'the dashboard created it through the API');
  assert.match(await item.textContent(), new RegExp(made.id));
  await item.getByRole('button', { name: 'Delete' }).click();
  await page.locator('#confirm-ok').click();
  const boundItem = page.locator('#storage-kv li', { hasText: `${title}-bound` });
  await boundItem.waitFor();
  await boundItem.getByRole('link', { name: p.id.slice(0, 8) }).waitFor();
  await page.waitForFunction((t) => ![...document.querySelectorAll('#storage-kv li strong')].some((e) => e.textContent === t), title);
  assert.equal((await call('GET', `/__api/kv/namespaces/${made.id}`)).status, 404, 'deleted through the API');
  // Buckets: the same section, R2's naming rules answered by the API.
  const bucket = `dash-b-${Date.now()}`;
  const createBucket = page.getByLabel('New bucket').locator('xpath=..').getByRole('button', { name: 'Create' });
  await page.getByLabel('New bucket').fill('Bad_Name');
  await createBucket.click();
  await page.locator('#status.error').waitFor();
  await page.getByLabel('New bucket').fill(bucket);
  await createBucket.click();
  await page.locator('#storage-bucket li', { hasText: bucket }).waitFor();
  assert.ok((await call('GET', '/__api/buckets?limit=100')).body.buckets.some((b) => b.name === bucket));
  // SQL databases: the same again.
  const dbName = `dash-db-${Date.now()}`;
  await page.getByLabel('New database').fill(dbName);
  await page.getByLabel('New database').locator('xpath=..').getByRole('button', { name: 'Create' }).click();
  await page.locator('#storage-sql li', { hasText: dbName }).waitFor();
  assert.ok((await call('GET', '/__api/sql/databases?limit=100')).body.databases.some((d) => d.name === dbName));
  await shot(page, 'storage');
  assert.deepEqual(problems.filter((p) => !/400/.test(p)), [], 'no console errors besides the refused name');
  await context.close();
});

test('runtime logs: the runs of a project\u2019s server code are listed, filtered and searched', async () => {
  const p = await freshProject('dash runs');
  const code = `export default { async fetch(req) {
    const u = new URL(req.url);
    console.log('handling', u.pathname);
    if (u.pathname === '/throw') throw new Error('boom from the dashboard test');
    return new Response('ok');
  } };`;
  const serverCode = { entrypoint: 'index.js', compatibilityDate: '2026-10-01', modules: { 'index.js': Buffer.from(code).toString('base64') } };
  await deploySite(p.id, { '/index.html': 'x' }, { extra: { serverCode, run_worker_first: true } });
  assert.equal((await request(`/__project/${p.slug}/hello`)).status, 200);
  assert.equal((await request(`/__project/${p.slug}/throw`)).status, 500);
  // Kept after the response: the deploy's start-up check (`/`) and the two visits.
  for (let i = 0; i < 100; i++) {
    const r = await call('GET', `/__api/projects/${p.id}/logs`);
    if (r.body.count >= 3) break;
    await sleep(100);
  }
  const { context, page, problems } = await openPage();
  await signIn(page);
  await page.goto(`${DASH}#/p/${p.id}`);
  const runs = page.locator('#runs li.run');
  await page.getByRole('heading', { name: 'Runtime logs' }).waitFor();
  await runs.nth(2).waitFor();
  assert.equal(await runs.count(), 3);
  // The thrown run is marked and shows its exception without a click.
  const thrown = runs.filter({ hasText: 'GET /throw' });
  assert.match(await thrown.getAttribute('class'), /is-error/);
  assert.match(await thrown.locator('pre').textContent(), /Error: boom from the dashboard test/);
  assert.match(await runs.filter({ hasText: 'GET /hello' }).textContent(), /200 ok/);
  // Errors only, then a text search.
  await page.getByLabel('Status').selectOption('error');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#runs li.run').length === 1);
  assert.match(await runs.first().textContent(), /GET \/throw/);
  await page.getByLabel('Status').selectOption('');
  await page.getByLabel('Search runs').fill('handling /hello');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#runs li.run').length === 1
    && document.querySelector('#runs li.run').textContent.includes('GET /hello'));
  await shot(page, 'runtime-logs');
  // Live: a run made after "Follow live" appears on top without reloading; the filter applies.
  await page.getByLabel('Search runs').fill('');
  await page.getByRole('button', { name: 'Follow live' }).click();
  await page.getByRole('button', { name: 'Stop following' }).waitFor();
  await page.getByText('Following live runs').waitFor();
  assert.equal((await request(`/__project/${p.slug}/live-one`)).status, 200);
  await page.waitForFunction(() => document.querySelector('#runs li.run')?.textContent.includes('GET /live-one'));
  await page.getByRole('button', { name: 'Stop following' }).click();
  await page.getByRole('button', { name: 'Follow live' }).waitFor();
  assert.equal((await request(`/__project/${p.slug}/after-stop`)).status, 200);
  await sleep(1000);
  assert.ok(!(await page.locator('#runs').textContent()).includes('/after-stop'), 'nothing arrives once stopped');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a phone-sized viewport renders every view without horizontal overflow', async () => {
  const p = await freshProject('dash phone with a rather long project name');
  await deploySite(p.id, { '/index.html': '<h1>phone</h1>' });
  await api.addDomain(p.id, `a-very-long-hostname-label-for-wrapping.dash-${p.slug}.example.com`);
  const { context, page, problems } = await openPage({ width: 375, height: 740 });
  await signIn(page);
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.getByRole('link', { name: p.name }).waitFor();
  assert.ok(await overflow() <= 0, 'projects view');
  await page.getByRole('link', { name: p.name }).click();
  await page.locator('#deployments .active-marker').waitFor();
  await page.locator('#domains li').first().waitFor();
  assert.ok(await overflow() <= 0, `project view overflows by ${await overflow()} px`);
  await shot(page, 'phone-project');
  await page.getByRole('link', { name: 'Tokens' }).click();
  await page.getByLabel('Name').waitFor();
  assert.ok(await overflow() <= 0, 'tokens view');
  await page.getByRole('link', { name: 'Storage', exact: true }).click();
  await page.locator('#storage-kv li').first().waitFor();
  assert.ok(await overflow() <= 0, `storage view overflows by ${await overflow()} px`);
  await page.goto(`${BASE}/docs`);
  await page.locator('#ops details').first().waitFor();
  assert.ok(await overflow() <= 0, 'docs');
  await shot(page, 'phone-docs');
  assert.deepEqual(problems, []);
  await context.close();
});

test('keyboard only: sign in and open a project without a mouse', async () => {
  const p = await freshProject('dash keys');
  const { context, page, problems } = await openPage();
  await page.goto(DASH);
  await page.locator('#token').focus();
  await page.keyboard.type(TOKEN);
  await page.keyboard.press('Enter');
  const link = page.getByRole('link', { name: p.name });
  await link.waitFor();
  await link.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: p.name }).waitFor();
  await page.locator('#deployments').getByText('No deployments yet.').waitFor();
  // The confirmation dialog takes focus and Escape cancels it.
  await page.locator('#rollback').focus();
  await page.keyboard.press('Enter');
  assert.ok(await page.locator('#confirm').isVisible());
  assert.equal(await page.evaluate(() => document.activeElement.id), 'confirm-cancel');
  await page.keyboard.press('Escape');
  assert.ok(!(await page.locator('#confirm').isVisible()));
  // Every control has an accessible name.
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, button')]
    .filter((el) => el.offsetParent !== null && !(el.labels?.length || el.getAttribute('aria-label') || el.textContent.trim()))
    .map((el) => el.outerHTML));
  assert.deepEqual(unnamed, []);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the docs page renders every operation with a curl example and response examples', async () => {
  const { context, page, problems } = await openPage();
  await page.goto(`${BASE}/docs`);
  const spec = await (await fetch(`${BASE}/openapi.json`)).json();
  const count = Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).filter((k) => ['get', 'post', 'put', 'patch', 'delete'].includes(k)).length, 0);
  await page.locator('#ops details.op').first().waitFor();
  assert.equal(await page.locator('#ops details.op').count(), count);
  const op = page.locator('#ops details.op', { has: page.locator('code', { hasText: /^\/__api\/projects$/ }) }).filter({ hasText: 'POST' });
  await op.locator('summary').first().click();
  const text = await op.textContent();
  assert.match(text, /curl -sS -X POST "\$FLOTILLA_URL\/__api\/projects"/);
  assert.match(text, /authorization: Bearer \$FLOTILLA_TOKEN/);
  assert.match(text, /"project": \{/);
  await shot(page, 'docs');
  assert.deepEqual(problems, []);
  await context.close();
});

test('tokens: a new secret comes with the flotilla env exports that point wrangler & co. here', async () => {
  const { context, page, problems } = await openPage({ width: 375, height: 800 });
  await signIn(page);
  await page.getByRole('link', { name: 'Tokens' }).click();
  await page.getByLabel('Name').fill(`env ${Date.now()}`);
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = await page.locator('#secret-value').textContent();
  const snippet = await page.locator('#secret-env').textContent();
  // The same text `flotilla env` prints (cli/src/env.rs, sh form) for this origin and token.
  const base = `${new URL(BASE).origin}/client/v4`;
  assert.equal(snippet, [
    '# Point wrangler, the Cloudflare SDK, OpenNext and cf at Flotilla (flotilla env)',
    'unset CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL CF_API_KEY CF_EMAIL CLOUDFLARE_API_USER_SERVICE_KEY',
    `export CLOUDFLARE_API_BASE_URL='${base}'`,
    `export CLOUDFLARE_BASE_URL='${base}'`,
    `export CLOUDFLARE_API_TOKEN='${secret}'`,
    "export CLOUDFLARE_ACCOUNT_ID='flotilla'",
    "export WRANGLER_SEND_METRICS='false'",
    "export WRANGLER_SEND_ERROR_REPORTS='false'",
    "export CLOUDFLARE_CF_FETCH_ENABLED='false'",
  ].join('\n'));
  // And a shell reads it back as meant.
  const got = execFileSync('sh', ['-c', `${snippet}\nprintf '%s %s' "$CLOUDFLARE_BASE_URL" "$CLOUDFLARE_API_TOKEN"`], { encoding: 'utf8' });
  assert.equal(got, `${base} ${secret}`);
  await shot(page, 'token-env-phone');
  assert.deepEqual(problems, []);
  await context.close();
});
