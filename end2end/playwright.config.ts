import { defineConfig } from '@playwright/test';

// Where the app under test listens. By default Playwright starts the release
// server itself (`webServer` below) and stops it afterwards. Set E2E_BASE_URL
// to test a server you started yourself (e.g. `cargo leptos end-to-end`).
const port = Number(process.env.E2E_PORT ?? 3100);
const external = process.env.E2E_BASE_URL;
const baseURL = external ?? `http://127.0.0.1:${port}`;
const serverBin = process.env.E2E_SERVER_BIN ?? 'target/release/server';

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
    { name: 'js', use: { javaScriptEnabled: true } },
    // Proves every page works server-rendered, before or without the WASM bundle.
    { name: 'no-js', use: { javaScriptEnabled: false } },
  ],
  webServer: external
    ? undefined
    : {
        command: serverBin,
        cwd: '..',
        url: `${baseURL}/healthz`,
        reuseExistingServer: false,
        timeout: 60_000,
        stdout: 'pipe',
        stderr: 'pipe',
        env: {
          LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
          LEPTOS_SITE_ROOT: 'target/site',
          LEPTOS_OUTPUT_NAME: 'gatehouse',
          LEPTOS_ENV: 'PROD',
          // The embedded provider on its own port; nothing written to disk.
          GATEHOUSE_IDP_ADDR: `127.0.0.1:${port + 1}`,
          GATEHOUSE_DATA_DIR: ':memory:',
          RUST_LOG: process.env.RUST_LOG ?? 'warn',
        },
      },
});
