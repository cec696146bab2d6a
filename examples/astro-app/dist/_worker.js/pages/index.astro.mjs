globalThis.process ??= {}; globalThis.process.env ??= {};
import { e as createComponent, k as renderHead, r as renderTemplate, h as createAstro } from '../chunks/astro/server_ayzMwmTg.mjs';
export { renderers } from '../renderers.mjs';

const $$Astro = createAstro();
const $$Index = createComponent(async ($$result, $$props, $$slots) => {
  const Astro2 = $$result.createAstro($$Astro, $$props, $$slots);
  Astro2.self = $$Index;
  const visits = (await Astro2.session?.get("visits") ?? 0) + 1;
  Astro2.session?.set("visits", visits);
  const given = Astro2.url.searchParams.get("name");
  if (given) Astro2.session?.set("name", given);
  const name = given ?? await Astro2.session?.get("name") ?? "stranger";
  return renderTemplate`<html lang="en"> <head><meta charset="utf-8"><title>Astro on Flotilla</title>${renderHead()}</head> <body> <h1>Hello, <span id="name">${name}</span></h1> <p>Visits in this session: <span id="visits">${visits}</span></p> </body></html>`;
}, "/work/wt-apps/examples/astro-app/src/pages/index.astro", void 0);

const $$file = "/work/wt-apps/examples/astro-app/src/pages/index.astro";
const $$url = "";

const _page = /*#__PURE__*/Object.freeze(/*#__PURE__*/Object.defineProperty({
  __proto__: null,
  default: $$Index,
  file: $$file,
  url: $$url
}, Symbol.toStringTag, { value: 'Module' }));

const page = () => _page;

export { page };
