// Ceiling target of the benchmark: a Worker that does no I/O and returns the same small page for
// every request. Its req/s through `wrangler dev` is what the proxy + load generator can carry on
// this machine; its runtime CPU per request is the floor any Worker pays under workerd.
const BODY = '<!doctype html><html><head><title>ceiling</title></head><body><h1>ok</h1></body></html>\n';

export default {
  fetch() {
    return new Response(BODY, { headers: { 'content-type': 'text/html; charset=utf-8' } });
  },
};
