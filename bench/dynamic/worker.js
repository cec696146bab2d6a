// Dynamic-request target of the benchmark. The same file runs on both sides: ours deploys it as a
// project's `serverCode` (with `run_worker_first: true`, so every visit reaches it through the
// platform Worker and the Worker Loader); the reference runs it as a plain Worker (`main`).
// A little real work per request and nothing else: parse the URL, route /api/<resource>/<id>, turn
// the query into an object, hash the path, build and serialize a JSON document. No I/O, no clock,
// no randomness, no headers in the output: the same URL always gets the same bytes, whichever side
// and whichever path prefix served it (the bench compares them byte for byte).

function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export default {
  fetch(request) {
    const url = new URL(request.url);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const query = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    if (parts[0] !== 'api' || parts.length !== 3) {
      return Response.json({ error: 'not_found', path: url.pathname }, { status: 404 });
    }
    const [, resource, id] = parts;
    const n = Number.parseInt(id, 10);
    return Response.json({
      resource,
      id: n,
      method: request.method,
      path: url.pathname,
      query,
      item: {
        key: `${resource}:${id}`,
        etag: fnv1a(url.pathname + url.search),
        even: n % 2 === 0,
        related: [n - 1, n + 1, n * 2].map((k) => `/api/${resource}/${k}`),
      },
    });
  },
};
