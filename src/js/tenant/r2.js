// Tenant-side R2 binding (runs in the tenant's isolate, imported by the generated main module,
// src/deploy/shims.rs). Placeholder until the bucket binding lands: hands the entrypoint stub over.
export function wrapR2(stub) {
  return stub;
}
