// Tenant-side D1 binding (runs in the tenant's isolate, imported by the generated main module,
// src/deploy/shims.rs). Placeholder until the SQL binding lands: hands the entrypoint stub over.
export function wrapD1(stub) {
  return stub;
}
