import type { FullConfig } from '@playwright/test';

// A server started outside Playwright (E2E_BASE_URL) may still be starting:
// poll the base URL until it answers (Playwright's own webServer also waits,
// so this is a no-op there).
export default async function globalSetup(config: FullConfig) {
  const baseURL = config.projects[0]?.use.baseURL;
  if (!baseURL) return;
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${baseURL}/healthz`);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the app at ${baseURL} did not answer within 60 s (last: ${last})`);
}
