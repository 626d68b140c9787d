/**
 * Import rules of gpu-arbiter (issue 12, "Rules the code keeps"). Run by `npm run lint`
 * as `depcruise src --config .dependency-cruiser.cjs`. Every rule is an error: the lint
 * fails on any violation. Paths are relative to the repository root.
 *
 * Type-only imports (`import type`, `typeof import(...)`) are analysed too
 * (tsPreCompilationDeps), so the rules below hold for types as well as for values,
 * except where a rule says otherwise.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No import circles anywhere in src/. Type-only edges count: the circles issue 12 names (arbiter <-> snapshot, prom-client, pipeline; doctor <-> remote) ran through `import type`.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'arbiter-class-only-above',
      severity: 'error',
      comment:
        'Only src/arbiter/, src/index.ts and src/cli/ import the GpuArbiter class; shapes the layers below need live in src/arbiter/types.ts.',
      from: { path: '^src/', pathNot: ['^src/arbiter/', '^src/index\\.ts$', '^src/cli/'] },
      to: { path: '^src/arbiter/gpu-arbiter\\.ts$' },
    },
    {
      name: 'policy-is-pure',
      severity: 'error',
      comment:
        'src/policy/ is pure: it imports only src/util/, src/errors.ts, src/gpu/types.ts and other src/policy/ files; no node: builtins, no packages.',
      from: { path: '^src/policy/' },
      to: { pathNot: ['^src/util/', '^src/errors\\.ts$', '^src/gpu/types\\.ts$', '^src/policy/'] },
    },
    {
      name: 'backends-stay-down',
      severity: 'error',
      comment: 'src/backends/ never imports the layers above it.',
      from: { path: '^src/backends/' },
      to: { path: '^src/(arbiter|observe|metrics|pipeline|doctor|cli)/' },
    },
    {
      name: 'backends-apart',
      severity: 'error',
      comment: 'src/backends/local, host and redis never import each other; what they share lives in the top-level src/backends/*.ts files.',
      from: { path: '^src/backends/(local|host|redis)/' },
      to: { path: '^src/backends/(local|host|redis)/', pathNot: '^src/backends/$1/' },
    },
    {
      name: 'backends-apart',
      severity: 'error',
      comment:
        'The shared top-level src/backends/*.ts files (contract, cluster shapes, resource names, wait errors) do not reach into local, host or redis; failover.ts may (it composes backends).',
      from: { path: '^src/backends/[^/]+\\.ts$', pathNot: '^src/backends/failover\\.ts$' },
      to: { path: '^src/backends/(local|host|redis)/' },
    },
    {
      name: 'only-native-loads-addon',
      severity: 'error',
      comment: 'Only src/native/ loads the addon: node-gyp-build, bindings or a .node file.',
      from: { path: '^src/', pathNot: '^src/native/' },
      to: { path: ['(^|/)node_modules/(node-gyp-build|bindings)/', '^(node-gyp-build|bindings)$', '\\.node$'] },
    },
    {
      name: 'only-redis-imports-ioredis',
      severity: 'error',
      comment: 'Only src/backends/redis/ imports ioredis, type-only imports included (require("gpu-arbiter") must not load it).',
      from: { path: '^src/', pathNot: '^src/backends/redis/' },
      to: { path: ['(^|/)node_modules/ioredis/', '^ioredis$'] },
    },
    {
      name: 'only-otel-imports-opentelemetry',
      severity: 'error',
      comment:
        'Only src/otel/ imports @opentelemetry/* (an optional peer dependency), and only src/otel/api.ts at run time, on first use: require("gpu-arbiter") must not load it (issue 18).',
      from: { path: '^src/', pathNot: '^src/otel/' },
      to: { path: ['(^|/)node_modules/@opentelemetry/', '^@opentelemetry/'] },
    },
    {
      name: 'otel-beside-the-arbiter',
      severity: 'error',
      comment:
        'src/otel/ is imported by the arbiter facade and reads it through structural shapes: it never imports the arbiter beyond its types and leases, nor backends, cli, pipeline or doctor.',
      from: { path: '^src/otel/' },
      to: { path: ['^src/(backends|cli|pipeline|doctor|bullmq)/', '^src/arbiter/(?!lease\\.ts$|types\\.ts$)'] },
    },
    {
      name: 'bullmq-only-by-subpath',
      severity: 'error',
      comment:
        'src/bullmq/ is the `gpu-arbiter/bullmq` subpath export: nothing else in src/ imports it, so require("gpu-arbiter") never loads it; only it imports bullmq (an optional peer dependency, loaded by src/bullmq/load.ts on the first GpuWorker).',
      from: { path: '^src/', pathNot: '^src/bullmq/' },
      to: { path: ['^src/bullmq/', '(^|/)node_modules/bullmq/', '^bullmq$'] },
    },
    {
      name: 'dashboard-beside-the-arbiter',
      severity: 'error',
      comment:
        'src/dashboard/ (issue 18) reads an arbiter through a structural shape and its snapshot types: it never imports the arbiter beyond snapshot.ts and types.ts (the facade imports it), nor cli, pipeline, doctor, otel or bullmq.',
      from: { path: '^src/dashboard/' },
      to: { path: ['^src/(cli|pipeline|doctor|otel|bullmq)/', '^src/arbiter/(?!snapshot\\.ts$|types\\.ts$)'] },
    },
    {
      name: 'dashboard-only-from-above',
      severity: 'error',
      comment: 'Only the arbiter facade (dashboardHandler), src/cli/ and src/index.ts import src/dashboard/: backends and the layers below never do.',
      from: { path: '^src/', pathNot: ['^src/dashboard/', '^src/arbiter/gpu-arbiter\\.ts$', '^src/cli/', '^src/index\\.ts$'] },
      to: { path: '^src/dashboard/' },
    },
    {
      name: 'src-never-imports-test',
      severity: 'error',
      comment: 'Product code never imports tests, test fixtures or benchmarks.',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    combinedDependencies: false,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'types', 'default'],
      mainFields: ['main', 'types', 'typings'],
      extensions: ['.ts', '.d.ts', '.js', '.cjs', '.mjs', '.json', '.node'],
    },
  },
};
