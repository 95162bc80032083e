import { test, type Page } from '@playwright/test';
import { signUp } from '../tests/helpers';

// Navigation-to-hydrated: from the start of a navigation (the browser's time
// origin) to the moment the last island has hydrated (`data-hydrated` set on
// <body>), as a visitor with a warm HTTP cache sees it. Prints the figures;
// asserts nothing about time.
const RUNS = Number(process.env.BENCH_HYDRATION_RUNS ?? 20);

async function measure(page: Page, path: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 2; i++) {
    await page.goto(path);
    const t = await page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const done = () => document.body.getAttribute('data-hydrated') === 'true';
          if (done()) return resolve(performance.now());
          new MutationObserver((_, o) => {
            if (done()) {
              o.disconnect();
              resolve(performance.now());
            }
          }).observe(document.body, { attributes: true });
        }),
    );
    if (i >= 2) times.push(t); // two warm-up loads fill the cache
  }
  return times.sort((a, b) => a - b);
}

function report(label: string, times: number[]) {
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(times.length * p))];
  const line = { case: `navigation to hydrated: ${label}`, runs: times.length, p50_ms: +pct(0.5).toFixed(1), p95_ms: +pct(0.95).toFixed(1) };
  console.log(`json: ${JSON.stringify(line)}`);
}

test('navigation to hydrated, signed out and signed in', async ({ page, request }) => {
  report('home, signed out', await measure(page, '/'));
  await signUp(page, request, `bench-hydration-${Date.now().toString(36)}@example.com`);
  report('home, signed in', await measure(page, '/'));
  report('profile (two islands)', await measure(page, '/profile'));
});
