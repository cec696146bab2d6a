// The cache bridge between the two wasm builds in this isolate (src/platform/serve/cache.rs; why two:
// src/js/main.mjs). A separate module so that it is evaluated before either build: each build
// registers its hook while it is instantiated, at import time.

/** Each loaded build's local cache invalidation, by build name. */
const FORGET = new Map();

globalThis.__flotillaForgetHook = function forgetHook(module, hook) {
  FORGET.set(module, hook);
};

/** Runs one build's invalidation in every other loaded build. */
globalThis.__flotillaForgetElsewhere = function forgetElsewhere(from, kind, arg) {
  for (const [module, hook] of FORGET) if (module !== from) hook(kind, arg);
};
