// Runs in the tenant's isolate, imported FIRST by the generated main module (src/deploy/shims.rs)
// so that a tenant module touching `caches.default` at top level finds it. A Worker Loader
// isolate has a `caches` object whose every call fails ("No Cache was configured"); this one
// forwards match/put/delete to our TenantCache entrypoint (src/js/main.mjs), handed over in env
// under BINDING (wrap.js takes it out of the env the tenant's handlers see). Which calls reach
// the platform cache, and under which name, is decided there (src/storage/cache.rs).
const BINDING = '__FLOTILLA_CACHE';

let stub;

/** Called by wrap.js with the env of each handler call. */
export function setCacheBinding(b) {
  if (b !== undefined) stub = b;
}

async function binding() {
  if (stub === undefined) {
    // Code that is not our wrapped default export (a Durable Object class, another entrypoint).
    try {
      stub = (await import('cloudflare:workers')).env?.[BINDING];
    } catch {}
  }
  if (stub === undefined) throw new Error('the Cache API is not available here');
  return stub;
}

/** A request as the entrypoint takes it: URL, method and headers (for Vary); never a body. */
function key(request) {
  const r = request instanceof Request ? request : new Request(request);
  return [r.url, r.method, [...r.headers]];
}

class Cache {
  #name;

  constructor(name) {
    this.#name = name;
  }

  async match(request, options) {
    const [url, method, headers] = key(request);
    return (await (await binding()).match(this.#name, url, method, headers, options?.ignoreMethod === true)) ?? undefined;
  }

  async put(request, response) {
    const [url, method, headers] = key(request);
    if (!(response instanceof Response)) throw new TypeError("Failed to execute 'put' on 'Cache': parameter 2 is not of type 'Response'.");
    if (response.bodyUsed) throw new TypeError('Body has already been used.');
    await (await binding()).put(this.#name, url, method, headers, response);
  }

  async delete(request, options) {
    const [url, method, headers] = key(request);
    return (await binding()).delete(this.#name, url, method, headers, options?.ignoreMethod === true);
  }
}

class CacheStorage {
  #default = new Cache(null);

  get default() {
    return this.#default;
  }

  async open(name) {
    return new Cache(String(name));
  }
}

Object.defineProperty(globalThis, 'caches', { value: new CacheStorage(), writable: true, configurable: true, enumerable: true });
