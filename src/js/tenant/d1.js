// Tenant-side D1 binding (issue 27): runs in the tenant's isolate, imported by the generated main
// module (src/deploy/shims.rs), and is what tenant code sees as `env.DB`. A thin client in the
// manner of the runtime's own D1 client: `bind()` converts values as D1's does (synchronously, with
// its type error), and statements go to our TenantSql entrypoint (src/js/main.mjs) as
// `[{sql, params}]`. Everything else — which SQL may run, atomicity, limits, result `meta` and
// the `D1_ERROR: ...` texts — is decided in Rust (src/storage/sql.rs); here the rows-and-columns
// answer only becomes objects (`all`/`run`/`first`) or arrays (`raw`), as D1's client does.

function toObjects(r) {
  const { columns, rows } = r.results;
  return { ...r, results: rows.map((row) => Object.fromEntries(row.map((cell, i) => [columns[i], cell]))) };
}

function convert(values) {
  return values.map((r) => {
    const t = typeof r;
    if (t === 'number' || t === 'string') return r;
    if (t === 'boolean') return r ? 1 : 0;
    if (t === 'object') {
      if (r == null) return null;
      if (Array.isArray(r) && r.every((b) => typeof b === 'number' && b >= 0 && b < 256)) return r;
      if (r instanceof ArrayBuffer) return Array.from(new Uint8Array(r));
      if (ArrayBuffer.isView(r)) return Array.from(r);
    }
    throw new Error(`D1_TYPE_ERROR: Type '${t}' not supported for value '${r}'`, {
      cause: new Error(`Type '${t}' not supported for value '${r}'`),
    });
  });
}

class D1PreparedStatement {
  #query;
  constructor(query, statement, params) {
    this.#query = query;
    this.statement = statement;
    this.params = params ?? [];
  }

  bind(...values) {
    return new D1PreparedStatement(this.#query, this.statement, convert(values));
  }

  async #one() {
    const [r] = await this.#query([{ sql: this.statement, params: this.params }]);
    return r;
  }

  async first(colName) {
    const results = toObjects(await this.#one()).results;
    if (results.length === 0) return null;
    const row = results[0];
    if (colName === undefined) return row;
    if (row[colName] === undefined) {
      throw new Error(`D1_COLUMN_NOTFOUND: Column not found (${colName})`, { cause: new Error('Column not found') });
    }
    return row[colName];
  }

  async run() {
    return toObjects(await this.#one());
  }

  async all() {
    return toObjects(await this.#one());
  }

  async raw(options) {
    const r = await this.#one();
    return [...(options?.columnNames ? [r.results.columns] : []), ...r.results.rows];
  }
}

class D1DatabaseSession {
  #query;
  constructor(query) {
    this.#query = query;
  }

  prepare(sql) {
    return new D1PreparedStatement(this.#query, sql);
  }

  async batch(statements) {
    const queries = statements.map((s) => ({ sql: s.statement, params: s.params }));
    return (await this.#query(queries)).map(toObjects);
  }

  /** One database, one copy: every read sees every earlier write, so there is no bookmark. */
  getBookmark() {
    return null;
  }
}

class D1Database extends D1DatabaseSession {
  #stub;
  constructor(stub) {
    super((queries) => stub.query(queries));
    this.#stub = stub;
  }

  exec(query) {
    return this.#stub.exec(String(query));
  }

  withSession() {
    return new D1DatabaseSession((queries) => this.#stub.query(queries));
  }

  async dump() {
    throw new Error('D1_DUMP_ERROR: dump() is not supported; use `wrangler d1 export`');
  }
}

export function wrapD1(stub) {
  return new D1Database(stub);
}
