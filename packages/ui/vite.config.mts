import { defineConfig } from 'vite';

// The dashboard is served by the admin at /ui/ under a Content-Security-Policy without
// 'unsafe-inline': everything must be external files, including the module preload helper.
export default defineConfig({
  base: '/ui/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: false,
  },
});
