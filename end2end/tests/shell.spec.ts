import { expect, test } from '@playwright/test';
import { ids } from './ids';

test('home page is server-rendered with the shell', async ({ page }) => {
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  await expect(page).toHaveTitle('Gatehouse');
  await expect(page.getByTestId(ids.homeHeading)).toHaveText('Sign-in for Rust web apps');
  await expect(page.getByTestId(ids.signinLink)).toHaveText('Sign in');
  // Rendered by the server function during SSR, so visible with or without JS.
  await expect(page.getByTestId(ids.serverInfo)).toContainText(/^Server v\d+\.\d+\.\d+ · up \d/);
});

test('unknown paths show the 404 page with status 404', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page).toHaveTitle('Page not found · Gatehouse');
  await expect(page.getByTestId(ids.notFound)).toBeVisible();
  await page.getByRole('link', { name: 'Go to the home page' }).click();
  await expect(page.getByTestId(ids.homeHeading)).toBeVisible();
});

test('health check answers', async ({ request }) => {
  const res = await request.get('/healthz');
  expect(res.status()).toBe(200);
  expect(await res.json()).toMatchObject({ status: 'ok' });
});

test.describe('with JavaScript', () => {
  test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, 'needs the WASM bundle');

  test('after hydration the footer loads server info through the server function', async ({ page }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

    await page.goto('/');
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    const refresh = page.getByTestId(ids.serverInfoRefresh);
    await expect(refresh).toBeVisible();

    const call = page.waitForResponse((r) => r.url().endsWith('/api/server_info') && r.request().method() === 'POST');
    await refresh.click();
    expect((await call).status()).toBe(200);
    await expect(page.getByTestId(ids.serverInfo)).toContainText(/^Server v\d+\.\d+\.\d+ · up \d/);
    expect(errors).toEqual([]);
  });

  test('following a link to an unknown path shows the 404 page', async ({ page }) => {
    await page.goto('/');
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    await page.evaluate(() => {
      const a = document.createElement('a');
      a.href = '/missing';
      a.textContent = 'missing';
      a.id = 'probe-link';
      document.body.appendChild(a);
    });
    await page.locator('#probe-link').click();
    await expect(page.getByTestId(ids.notFound)).toBeVisible();
  });
});

test.describe('without JavaScript', () => {
  test.skip(({ javaScriptEnabled }) => javaScriptEnabled, 'checks the server-rendered path');

  test('the page is never hydrated and the refresh button is absent', async ({ page }) => {
    await page.goto('/');
    await expect(page.getByTestId(ids.homeHeading)).toBeVisible();
    await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
    await expect(page.getByTestId(ids.serverInfoRefresh)).toHaveCount(0);
  });
});
