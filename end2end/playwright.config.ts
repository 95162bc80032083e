import { defineConfig } from '@playwright/test';

// Where the app under test listens. By default Playwright starts the release
// server itself (`webServer` below) and stops it afterwards. Set E2E_BASE_URL
// to test a server you started yourself (e.g. `scripts/sitebuild watch`).
const port = Number(process.env.E2E_PORT ?? 3100);
const external = process.env.E2E_BASE_URL;
const baseURL = external ?? `http://127.0.0.1:${port}`;
const serverBin = process.env.E2E_SERVER_BIN ?? 'target/release/server';

// The interop journey: `oidc-provider` (npm, OpenID Certified) on its own
// port, and one app instance per client authentication method against it.
const interop = {
  provider: port + 20,
  basic: port + 21,
  post: port + 22,
};
const appEnv = (sitePort: number) => ({
  LEPTOS_SITE_ADDR: `127.0.0.1:${sitePort}`,
  // Each server's Prometheus listener on a port of its own.
  GATEHOUSE_METRICS_ADDR: `127.0.0.1:${sitePort + 50}`,
  LEPTOS_SITE_ROOT: 'target/site',
  LEPTOS_OUTPUT_NAME: 'gatehouse',
  LEPTOS_ENV: 'PROD',
  // The build names the bundle by content hash (`hash-files`); the server
  // reads the names from target/<profile>/hash.txt beside its binary.
  LEPTOS_HASH_FILES: 'true',
  GATEHOUSE_DATA_DIR: ':memory:',
  // Every test signs in from 127.0.0.1, many at once: a budget no real client
  // needs (the limits themselves are tested in server/tests/security.rs).
  GATEHOUSE_RATE_LIMIT_SIGNIN: '1200/min',
  RUST_LOG: process.env.RUST_LOG ?? 'warn',
});
const interopApp = (sitePort: number, clientId: string, method: string) => ({
  command: serverBin,
  cwd: '..',
  url: `http://127.0.0.1:${sitePort}/healthz`,
  reuseExistingServer: false,
  timeout: 60_000,
  stdout: 'pipe' as const,
  stderr: 'pipe' as const,
  env: {
    ...appEnv(sitePort),
    OIDC_ISSUER: `http://127.0.0.1:${interop.provider}`,
    OIDC_CLIENT_ID: clientId,
    OIDC_CLIENT_SECRET: `${clientId}-interop-secret-0123456789`,
    OIDC_CLIENT_AUTH: method,
  },
});

// Debian's Chromium; browsers are never downloaded. These flags keep it from
// reaching for the network, which is closed here.
const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};

export default defineConfig({
  testDir: './tests',
  globalSetup: './global-setup.ts',
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: process.env.CI ? 2 : undefined,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['json', { outputFile: 'test-results/results.json' }]],
  use: {
    baseURL,
    browserName: 'chromium',
    launchOptions: chromium,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    { name: 'js', use: { javaScriptEnabled: true }, testIgnore: /interop/ },
    // Proves every page works server-rendered, before or without the WASM bundle.
    { name: 'no-js', use: { javaScriptEnabled: false }, testIgnore: /interop/ },
    // The same sign-in / sign-out journey against an independent provider.
    ...(external
      ? []
      : [
          { name: 'interop-basic', testMatch: /interop/, use: { baseURL: `http://127.0.0.1:${interop.basic}` } },
          { name: 'interop-post', testMatch: /interop/, use: { baseURL: `http://127.0.0.1:${interop.post}` } },
        ]),
  ],
  webServer: external
    ? undefined
    : [
        {
          command: serverBin,
          cwd: '..',
          url: `${baseURL}/healthz`,
          reuseExistingServer: false,
          timeout: 60_000,
          stdout: 'pipe',
          stderr: 'pipe',
          // The embedded development provider on its own port (a release build
          // runs it only when told to); nothing written to disk.
          env: { ...appEnv(port), GATEHOUSE_IDP_ADDR: `127.0.0.1:${port + 1}`, GATEHOUSE_DEV_PROVIDER: '1' },
        },
        {
          command: `node interop/provider.mjs ${interop.provider} http://127.0.0.1:${interop.basic} http://127.0.0.1:${interop.post}`,
          url: `http://127.0.0.1:${interop.provider}/.well-known/openid-configuration`,
          reuseExistingServer: false,
          timeout: 30_000,
          stdout: 'pipe',
          stderr: 'pipe',
        },
        interopApp(interop.basic, 'gatehouse-basic', 'client_secret_basic'),
        interopApp(interop.post, 'gatehouse-post', 'client_secret_post'),
      ],
});
