// Runs in the tenant's isolate, imported by the generated main module (src/deploy/shims.rs):
// `export default wrap(user.default, sqlNames, bucketNames, imagesNames)`. Every handler of the
// tenant's default export gets an env whose SQL, bucket and images bindings are the D1, R2 and
// Images APIs built around our entrypoint stubs (./d1.js, ./r2.js, ./images.js); everything else in env is passed as is, except the
// Cache API's stub, which goes to ./cache.js instead (the tenant's env never shows it).
import { setCacheBinding } from './cache.js';
import { wrapD1 } from './d1.js';
import { wrapR2 } from './r2.js';
import { wrapImages } from './images.js';

/** The handlers of a default-export object that receive `env` as their second argument. */
const HANDLERS = ['fetch', 'scheduled', 'queue', 'tail', 'trace', 'email', 'test'];

export function wrap(d, sql, buckets, images = []) {
  const wrappedEnvs = new WeakMap();
  const wrapEnv = (env) => {
    if (env === null || typeof env !== 'object') return env;
    let out = wrappedEnvs.get(env);
    if (out === undefined) {
      out = { ...env };
      setCacheBinding(env.__FLOTILLA_CACHE);
      delete out.__FLOTILLA_CACHE;
      for (const n of sql) if (env[n] !== undefined) out[n] = wrapD1(env[n]);
      for (const n of buckets) if (env[n] !== undefined) out[n] = wrapR2(env[n]);
      for (const n of images) if (env[n] !== undefined) out[n] = wrapImages(env[n]);
      wrappedEnvs.set(env, out);
    }
    return out;
  };
  if (typeof d === 'function') {
    // A class (WorkerEntrypoint or plain): its constructor takes (ctx, env).
    return class extends d {
      constructor(ctx, env) {
        super(ctx, wrapEnv(env));
      }
    };
  }
  if (d === null || typeof d !== 'object') return d;
  const main = Object.create(d);
  for (const h of HANDLERS) {
    if (typeof d[h] === 'function') main[h] = (arg, env, ctx) => d[h].call(d, arg, wrapEnv(env), ctx);
  }
  return main;
}
