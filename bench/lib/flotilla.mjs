// The deploy half of the benchmark: Flotilla's asset upload protocol, timed step by step.
// session -> bucket uploads (bounded concurrency) -> deploy (waits for the queue workflow).

async function call(base, method, path, token, body) {
  const headers = { authorization: `Bearer ${token}` };
  let payload;
  if (body !== undefined) { payload = typeof body === 'string' ? body : JSON.stringify(body); headers['content-type'] = 'application/json'; }
  const res = await fetch(base + path, { method, headers, body: payload, redirect: 'manual' });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, body: json, text };
}

function fail(step, r) {
  const err = new Error(`${step}: HTTP ${r.status} ${r.text.slice(0, 400)}`);
  err.step = step; err.status = r.status;
  return err;
}

export async function createProject(base, token, name) {
  const r = await call(base, 'POST', '/__api/projects', token, { name });
  if (r.status !== 201 || !r.body?.project?.id) throw fail('create project', r);
  return r.body.project;
}

const now = () => performance.now();

async function follow(base, token, id) {
  for (let n = 0; ; n++) {
    await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** n, 500)));
    const r = await call(base, 'GET', `/__api/deployments/${id}`, token);
    if (r.status !== 200) throw fail('deployment status', r);
    if (!['queued', 'in_progress'].includes(r.body.deployment.status)) return r.body.deployment;
  }
}

/**
 * One full deploy of `files` ([{path, hash, size, buf}]). Returns timings (ms), counts and bytes.
 * Asserts nothing about the counts; callers judge them. `extra` is merged into the deploy body
 * (e.g. `{serverCode, run_worker_first}`).
 */
export async function deploy(base, token, projectId, files, { concurrency = 4, config, extra = {} } = {}) {
  const t0 = now();
  const manifest = {};
  for (const f of files) manifest[f.path] = { hash: f.hash, size: f.size };
  const s = await call(base, 'POST', `/__api/projects/${projectId}/assets-upload-session`, token, { manifest });
  if (s.status !== 200 || typeof s.body?.result?.jwt !== 'string' || !Array.isArray(s.body.result.buckets)) {
    throw fail('upload session', s);
  }
  const tSession = now();
  const buckets = s.body.result.buckets;
  const byHash = new Map(files.map((f) => [f.hash, f]));
  let completionJwt = buckets.length === 0 ? s.body.result.jwt : null;
  let uploadedFiles = 0; let uploadedBytes = 0; let requestBytes = 0;
  let nextBucket = 0;
  const worker = async () => {
    while (nextBucket < buckets.length) {
      const bucket = buckets[nextBucket++];
      const payload = {};
      for (const h of bucket) {
        const f = byHash.get(h);
        if (!f) throw new Error(`upload: server asked for unknown hash ${h}`);
        payload[h] = f.buf.toString('base64');
        uploadedFiles++; uploadedBytes += f.size;
      }
      const body = JSON.stringify(payload);
      requestBytes += Buffer.byteLength(body);
      const r = await call(base, 'POST', `/__api/projects/${projectId}/assets/upload`, s.body.result.jwt, body);
      if (r.status !== 200 || r.body?.success !== true) throw fail('upload bucket', r);
      if (r.body.result?.remaining === 0 && typeof r.body.result.jwt === 'string') completionJwt = r.body.result.jwt;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, buckets.length) }, worker));
  const tUpload = now();
  if (!completionJwt) throw new Error('upload: no completion token after all buckets (no response had remaining == 0 with a jwt)');
  const d = await call(base, 'POST', `/__api/projects/${projectId}/deploy`, token, { completionJwt, config, ...extra });
  if (d.status === 202 && d.body?.deployment?.id) {
    // Still running after the server's wait limit (big sites): follow the record.
    d.body.deployment = await follow(base, token, d.body.deployment.id);
  } else if (d.status !== 200 || d.body?.success !== true) throw fail('deploy', d);
  const tDeploy = now();
  return {
    totalMs: tDeploy - t0,
    sessionMs: tSession - t0,
    uploadMs: tUpload - tSession,
    deployMs: tDeploy - tUpload,
    buckets: buckets.length,
    uploadedFiles, uploadedBytes, requestBytes,
    manifestBytes: Buffer.byteLength(JSON.stringify({ manifest })),
    status: d.body.deployment?.status,
    deploymentId: d.body.deployment?.id,
    deployedAssets: d.body.deployedAssets, newAssets: d.body.newAssets, skippedAssets: d.body.skippedAssets,
    url: d.body.url,
  };
}
