import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// `scripts/bench hydration`: the release app as the test suite starts it, one
// Chromium, one measurement at a time. Not part of the test command.
const servers = Array.isArray(base.webServer) ? base.webServer : base.webServer ? [base.webServer] : [];

export default defineConfig({
  ...base,
  testDir: './bench',
  fullyParallel: false,
  workers: 1,
  timeout: 120_000,
  reporter: [['list']],
  projects: [{ name: 'bench', use: { javaScriptEnabled: true } }],
  webServer: servers.slice(0, 1),
});
