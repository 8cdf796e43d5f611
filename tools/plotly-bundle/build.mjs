// `node build.mjs OUT.js`, after `npm install` here (`make vendor-plotly` does both).
//
// A partial plotly.js bundle with only what entry.js registers: 1.26 MB minified where plotly.js's
// smallest official bundle that holds heatmaps ("cartesian") is 1.5 MB, which a browser must parse
// and run before the first chart (~0.2 s less of it here, see the README). Built the way plotly.js
// builds its own bundles (esbuild, CSS inlined, the same defines), minus the WebGL parts we skip.
import { readFileSync } from 'node:fs';
import * as esbuild from 'esbuild';
import InlineCSSPlugin from 'esbuild-plugin-inline-css';

const version = JSON.parse(readFileSync('node_modules/plotly.js/package.json', 'utf8')).version;
await esbuild.build({
  entryPoints: ['entry.js'],
  outfile: process.argv[2],
  format: 'iife',
  globalName: 'Plotly',
  bundle: true,
  minify: true,
  target: 'es2016',
  plugins: [InlineCSSPlugin()],
  define: { global: 'window', 'define.amd': 'false' },
  banner: { js: `/**\n* plotly.js (dropviz: scatter, bar, heatmap - minified) v${version}\n* Copyright 2012-2026, Plotly, Inc.\n* All rights reserved.\n* Licensed under the MIT license\n*/` },
  legalComments: 'eof',  // the licences of the bundled libraries, at the end
  logLevel: 'info',
});
