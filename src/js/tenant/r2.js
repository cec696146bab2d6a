// Tenant-side R2 binding (issue 27): the object tenant code sees as `env.<BUCKET>`, built in the
// tenant's isolate by the generated main module (src/deploy/shims.rs) around the `TenantBucket`
// entrypoint stub (src/js/main.mjs). A thin client: keys, limits, error texts and result fields
// are decided by Rust (src/storage/bucket.rs, src/platform/store/tenant_bucket.rs); this only
// builds each call and gives answers R2's methods, which cannot cross RPC (an R2 object's
// text()/writeHttpMetadata(), a multipart upload object). Bodies stream through untouched.

const HEADER_OF = {
  contentType: 'content-type',
  contentLanguage: 'content-language',
  contentDisposition: 'content-disposition',
  contentEncoding: 'content-encoding',
  cacheControl: 'cache-control',
};

/** A `Headers` given as httpMetadata, as R2 reads it; anything else as given. */
function httpMetadataOf(h) {
  if (!(h instanceof Headers)) return h;
  const out = {};
  for (const [field, name] of Object.entries(HEADER_OF)) {
    const v = h.get(name);
    if (v !== null) out[field] = v;
  }
  const expires = h.get('expires');
  if (expires !== null) out.cacheExpiry = new Date(expires);
  return out;
}

function hexToBuffer(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out.buffer;
}

function checksumsOf(json) {
  const out = { toJSON: () => ({ ...json }) };
  for (const [k, v] of Object.entries(json ?? {})) if (typeof v === 'string') out[k] = hexToBuffer(v);
  return out;
}

class R2Object {
  constructor(f) {
    this.key = f.key;
    this.version = f.version;
    this.size = f.size;
    this.etag = f.etag;
    this.httpEtag = f.httpEtag;
    this.uploaded = f.uploaded instanceof Date ? f.uploaded : new Date(f.uploaded);
    this.httpMetadata = f.httpMetadata ?? {};
    this.customMetadata = f.customMetadata ?? {};
    this.range = f.range;
    this.checksums = checksumsOf(f.checksums);
    this.storageClass = f.storageClass;
  }

  writeHttpMetadata(headers) {
    const m = this.httpMetadata ?? {};
    for (const [field, name] of Object.entries(HEADER_OF)) if (m[field] !== undefined) headers.set(name, m[field]);
    if (m.cacheExpiry !== undefined) headers.set('expires', new Date(m.cacheExpiry).toUTCString());
  }
}

class R2ObjectBody extends R2Object {
  #body;
  #used = false;

  constructor(f) {
    super(f);
    this.#body = f.body;
  }

  get body() {
    return this.#body;
  }

  get bodyUsed() {
    return this.#used || this.#body.locked;
  }

  #response() {
    if (this.bodyUsed) throw new TypeError('Body has already been used. It can only be used once. Use tee() first if you need to read it twice.');
    this.#used = true;
    return new Response(this.#body);
  }

  arrayBuffer() { return this.#response().arrayBuffer(); }
  bytes() { return this.#response().bytes(); }
  text() { return this.#response().text(); }
  json() { return this.#response().json(); }
  blob() { return this.#response().blob(); }
}

function objectOf(f) {
  if (f === null || f === undefined) return null;
  return 'body' in f ? new R2ObjectBody(f) : new R2Object(f);
}

/** What crosses RPC as a body: a Blob is read here (in the tenant's own memory). */
async function bodyOf(value) {
  return value instanceof Blob ? value.arrayBuffer() : value;
}

function putOptions(options) {
  if (options === undefined || options === null) return undefined;
  const out = { ...options };
  if (out.httpMetadata !== undefined) out.httpMetadata = httpMetadataOf(out.httpMetadata);
  return out;
}

class R2MultipartUpload {
  #stub;

  constructor(stub, key, uploadId) {
    this.#stub = stub;
    this.key = key;
    this.uploadId = uploadId;
  }

  async uploadPart(partNumber, value, options) {
    return this.#stub.uploadPart(this.key, this.uploadId, partNumber, await bodyOf(value), options);
  }

  async abort() {
    await this.#stub.abortMultipartUpload(this.key, this.uploadId);
  }

  async complete(uploadedParts) {
    const parts = (uploadedParts ?? []).map((p) => ({ partNumber: p?.partNumber, etag: p?.etag }));
    return objectOf(await this.#stub.completeMultipartUpload(this.key, this.uploadId, parts));
  }
}

class R2Bucket {
  #stub;

  constructor(stub) {
    this.#stub = stub;
  }

  async head(key) {
    return objectOf(await this.#stub.head(key));
  }

  async get(key, options) {
    return objectOf(await this.#stub.get(key, options));
  }

  async put(key, value, options) {
    return objectOf(await this.#stub.put(key, await bodyOf(value), putOptions(options)));
  }

  async delete(keys) {
    await this.#stub.delete(keys);
  }

  async list(options) {
    const r = await this.#stub.list(options);
    const out = { objects: r.objects.map(objectOf), delimitedPrefixes: r.delimitedPrefixes, truncated: r.truncated };
    if (r.truncated) out.cursor = r.cursor;
    return out;
  }

  async createMultipartUpload(key, options) {
    const u = await this.#stub.createMultipartUpload(key, putOptions(options));
    return new R2MultipartUpload(this.#stub, u.key, u.uploadId);
  }

  resumeMultipartUpload(key, uploadId) {
    return new R2MultipartUpload(this.#stub, String(key), String(uploadId));
  }
}

export function wrapR2(stub) {
  return new R2Bucket(stub);
}
