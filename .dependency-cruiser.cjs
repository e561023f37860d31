/**
 * The layers of src/ (docs/architecture.md): a module may import its own folder and the folders
 * listed before its own, never one listed after it, and no import cycle (type-only imports count).
 * `npm run lint` runs this check.
 */
const LAYERS = [
  'domain',
  'errors',
  'config',
  'logging',
  'threads',
  'redis',
  'http',
  'store',
  'cache',
  'ratelimit',
  'destinations',
  'schedules',
  'delivery',
  'worker',
  'events',
  'cluster',
  'auth',
  'seed',
  'metrics',
  'tracing',
  'dashboard',
  'api',
  'app',
  'cli',
];

const folder = (name) => `^src/${name}/`;

const upward = LAYERS.slice(0, -1).map((name, i) => ({
  name: `layer-${name}`,
  comment: `src/${name} may import only the layers before it (${LAYERS.slice(0, i).join(', ') || 'none'})`,
  severity: 'error',
  from: { path: folder(name) },
  to: { path: LAYERS.slice(i + 1).map(folder) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import cycle, type-only imports included',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'unknown-folder',
      comment: 'every folder of src/ is a layer of docs/architecture.md (add it to LAYERS there and here)',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map(folder) },
      to: {},
    },
    {
      name: 'service-only',
      comment: 'src/ holds the service: it never imports the benchmark, the tests or the scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(bench|test|scripts)/' },
    },
    {
      name: 'bench-through-the-cli',
      comment: 'bench/ drives the service as users do, and may use its modules, but not the tests',
      severity: 'error',
      from: { path: '^bench/' },
      to: { path: '^(test|scripts)/' },
    },
    ...upward,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};

// for test/architecture.test.ts (not enumerable: dependency-cruiser allows no other option)
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });
