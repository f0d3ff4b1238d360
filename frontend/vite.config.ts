import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { viteExternalsPlugin } from 'vite-plugin-externals';

/**
 * Libraries InvenTree's web UI provides at run time (window globals): not bundled, so the
 * plugin renders inside InvenTree's own React tree with its Mantine theme.
 */
export const externalLibs: Record<string, string> = {
  react: 'React',
  'react-dom': 'ReactDOM',
  ReactDom: 'ReactDOM',
  '@lingui/core': 'LinguiCore',
  '@lingui/react': 'LinguiReact',
  '@mantine/core': 'MantineCore',
  '@mantine/notifications': 'MantineNotifications'
};

const externalKeys = Object.keys(externalLibs);

/**
 * Build the entry points into the Python package's static/ folder (InvenTree copies it to
 * static/plugins/notify-plus/ when the plugin loads): plain names, and hashed names listed in
 * .vite/manifest.json for cache busting (InvenTree prefers those), as InvenTree's plugin creator does.
 */
export default defineConfig({
  plugins: [react({ jsxRuntime: 'classic' }), viteExternalsPlugin(externalLibs)],
  esbuild: { jsx: 'preserve' },
  build: {
    target: 'esnext',
    cssCodeSplit: false,
    manifest: true,
    sourcemap: false,
    rollupOptions: {
      preserveEntrySignatures: 'exports-only',
      input: ['./src/Admin.tsx', './src/Panel.tsx', './src/Dashboard.tsx'],
      output: [
        {
          dir: '../inventree_notify_plus/static',
          entryFileNames: '[name].js',
          chunkFileNames: 'chunks/[name]-[hash].js',
          assetFileNames: 'assets/[name].[ext]',
          globals: externalLibs
        },
        {
          dir: '../inventree_notify_plus/static',
          entryFileNames: '[name]-[hash].js',
          chunkFileNames: 'chunks/[name]-[hash].js',
          assetFileNames: 'assets/[name].[ext]',
          globals: externalLibs
        }
      ],
      external: externalKeys
    }
  },
  optimizeDeps: { exclude: externalKeys }
});
