import { expect, test } from '@playwright/test';

// What every visitor downloads before the page is interactive: the WASM and
// its JS glue, as sent to a browser that accepts brotli. A size, not a time,
// so it cannot be flaky. The pages are rendered on the server and only their
// islands (`#[island]`) are compiled into the bundle, which holds every island
// of the whole app: this is all any visitor ever downloads.
const BUDGET_BYTES = 200_000;

test('the bundle every visitor downloads stays within its brotli budget', async ({ page, request }) => {
  await page.goto('/');
  const js = await page.locator('link[rel="modulepreload"]').first().getAttribute('href');
  const wasm = await page.locator('link[rel="preload"][as="fetch"]').getAttribute('href');
  let total = 0;
  const sizes: Record<string, number> = {};
  for (const href of [js!, wasm!]) {
    const r = await request.get(href, { headers: { 'accept-encoding': 'br' } });
    expect(r.status(), href).toBe(200);
    expect(r.headers()['content-encoding'], href).toBe('br');
    const bytes = Number(r.headers()['content-length']);
    expect(bytes, `${href} has a length`).toBeGreaterThan(0);
    sizes[href] = bytes;
    total += bytes;
  }
  test.info().annotations.push({ type: 'bundle (brotli)', description: `${total} bytes: ${JSON.stringify(sizes)}; budget ${BUDGET_BYTES}` });
  expect(total, `WASM + JS brotli: ${JSON.stringify(sizes)}`).toBeLessThanOrEqual(BUDGET_BYTES);
});
