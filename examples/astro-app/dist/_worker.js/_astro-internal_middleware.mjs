globalThis.process ??= {}; globalThis.process.env ??= {};
import './chunks/astro-designed-error-pages_8cJNQBmB.mjs';
import './chunks/astro/server_ayzMwmTg.mjs';
import { s as sequence } from './chunks/render-context_BT1OWcwN.mjs';

const onRequest$1 = (context, next) => {
  if (context.isPrerendered) {
    context.locals.runtime ??= {
      env: process.env
    };
  }
  return next();
};

const onRequest = sequence(
	onRequest$1,
	
	
);

export { onRequest };
