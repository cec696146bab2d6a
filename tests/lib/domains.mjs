// Custom-domain helpers shared by the domain tests.
import assert from 'node:assert/strict';
import { api } from './client.mjs';
import { stub } from './stubs.mjs';

/**
 * Attaches `hostname` to `project`, publishes its TXT proof in the local DNS stub and verifies
 * it; returns the verified domain (with its Cloudflare for SaaS registration, made at verify).
 */
export async function attachVerified(project, hostname) {
  const add = await api.addDomain(project.id, hostname);
  assert.equal(add.status, 201, add.text);
  const { name, value } = add.body.domain.verification;
  await stub.setTxt(name, [JSON.stringify(value)]);
  const v = await api.verifyDomain(project.id, hostname);
  assert.equal(v.status, 200, v.text);
  assert.equal(v.body.domain.status, 'active');
  return v.body.domain;
}
