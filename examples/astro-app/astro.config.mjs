// Astro 5 on-demand rendering with the Cloudflare adapter. The adapter configures sessions
// on the KV binding `SESSION` (declared in wrangler.jsonc without an id: provisioned on deploy).
import { defineConfig } from 'astro/config';
import cloudflare from '@astrojs/cloudflare';

export default defineConfig({
  output: 'server',
  adapter: cloudflare(),
});
