globalThis.process ??= {}; globalThis.process.env ??= {};
export { a as page } from '../chunks/image-endpoint_CbPPuESK.mjs';
export { renderers } from '../renderers.mjs';
