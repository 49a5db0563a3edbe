// Builds the dashboard into web/dist (served by inventory at /). JSX goes through esbuild's automatic runtime,
// so no React plugin is needed. `vite dev` forwards the API to a running `kloudak up` (KLOUDAK_DEV_API).
import { defineConfig } from 'vite';

const api = process.env.KLOUDAK_DEV_API ?? 'http://127.0.0.1:5000';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    // API paths end in "/" (client routes never do), plus the forwarders under /api/.
    proxy: { '^(/api/|/[^?]*/(\\?|$))': { target: api, ws: true } },
  },
});
