import * as fs from 'fs';
import * as path from 'path';
import { expect, test } from '@playwright/test';
import { ids } from './ids';
import { signInAtProvider, signOut, signUp, uniqueEmail } from './helpers';

test('a new user opens /profile, registers, is onboarded, and lands on /profile', async ({ page, request }, info) => {
  const email = uniqueEmail(info, 'new');
  await page.goto('/profile');
  // Sent to the provider's sign-in page, not shown a blank profile.
  await signInAtProvider(page, request, email, 'Nia');
  await expect(page).toHaveURL(/\/onboarding\?return_to=%2Fprofile$/);
  // The name field suggests the provider's first name.
  await expect(page.getByTestId(ids.onboardingName)).toHaveValue('Nia');
  await page.getByTestId(ids.onboardingName).fill('   ');
  if (info.project.name === 'js') {
    // The browser's own `required` check stops a blank name; bypass it to see the server's answer.
    await page.evaluate(() => document.querySelector('form[data-testid="onboarding-form"]')?.setAttribute('novalidate', ''));
    await page.getByTestId(ids.onboardingSubmit).click();
    await expect(page.getByTestId(ids.errorMessage)).toContainText('Please enter a display name');
  }
  await page.getByTestId(ids.onboardingName).fill('Nia Newcomer');
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.displayName)).toHaveText('Nia Newcomer');
  // How they signed in, from the ID token's amr (RFC 8176: otp for an emailed passcode).
  await expect(page.getByTestId(ids.signInMethod)).toContainText('Signed in with a one-time passcode');
  await expect(page.getByTestId(ids.idClaims)).toContainText(email);
  await expect(page.getByTestId(ids.userinfo)).toContainText(email);
  await expect(page.getByTestId(ids.signedInAs)).toHaveText(email);
  await expect(page.getByTestId(ids.providerProfileLink)).toHaveAttribute('href', /\/profile$/);
});

test('an existing user signs in, comes back to the page, signs out, and must sign in again', async ({ page, request, browser }, info) => {
  const email = uniqueEmail(info, 'back');
  await signUp(page, request, email);
  await signOut(page);

  await page.goto('/no-such-page-yet?tab=2');
  await page.getByTestId(ids.signinLink).click();
  await signInAtProvider(page, request, email);
  await expect(page).toHaveURL(/\/no-such-page-yet\?tab=2$/);
  await expect(page.getByTestId(ids.signedInAs)).toHaveText(email);

  await page.goto('/');
  await expect(page.getByTestId(ids.greeting)).toContainText('Test User');
  await signOut(page);
  await page.goto('/profile');
  await expect(page.getByRole('heading', { name: 'Sign in or create an account' })).toBeVisible();
  expect(new URL(page.url()).pathname).toBe('/login');
});

test('two tabs start sign-in at once and both complete', async ({ context, request }, info) => {
  const email = uniqueEmail(info, 'tabs');
  const [a, b] = [await context.newPage(), await context.newPage()];
  await a.goto('/login?return_to=/first');
  await b.goto('/login?return_to=/second');
  await signInAtProvider(a, request, email);
  await expect(a).toHaveURL(/\/onboarding\?return_to=%2Ffirst$/);
  // Tab b still holds its own pending login; it finishes independently.
  await signInAtProvider(b, request, email);
  await expect(b).toHaveURL(/\/onboarding\?return_to=%2Fsecond$/);
  await b.getByTestId(ids.onboardingSubmit).click();
  await expect(b).toHaveURL(/\/second$/);
  await a.reload();
  await expect(a.getByTestId(ids.signedInAs)).toHaveText(email);
});

test('a failed sign-in ends on a styled page with a way back', async ({ page, request }) => {
  // A callback whose state this browser never started.
  await page.goto('/login?code=made-up&state=made-up');
  await expect(page.getByRole('heading', { name: 'Sign-in did not complete' })).toBeVisible();
  const href = await page.locator('link[rel="stylesheet"]').getAttribute('href');
  expect(href, 'the hashed stylesheet, not a name that no longer exists').toMatch(/^\/pkg\/gatehouse\.[\w-]+\.css$/);
  const css = await request.get(href!);
  expect(css.status()).toBe(200);
  // The panel is styled by it (unstyled, a section has no border).
  await expect(page.locator('section.panel--error')).toHaveCSS('border-top-style', 'solid');
  await expect(page.getByRole('link', { name: 'Try again' })).toHaveAttribute('href', /^\/login\?return_to=/);
});

test('the bundle is served precompressed under content-hashed names, cached as immutable', async ({ page, request }) => {
  const bundle: { url: string; encoding?: string; cache?: string; vary?: string }[] = [];
  page.on('response', (r) => {
    if (/\/pkg\/.+\.(wasm|js|css)$/.test(new URL(r.url()).pathname)) {
      const h = r.headers();
      bundle.push({ url: r.url(), encoding: h['content-encoding'], cache: h['cache-control'], vary: h['vary'] });
    }
  });
  await page.goto('/');
  await page.waitForLoadState('networkidle');
  expect(bundle.length, JSON.stringify(bundle)).toBeGreaterThan(0);
  for (const f of bundle) {
    expect(f.url).toMatch(/\/pkg\/gatehouse\.[\w-]+\.(wasm|js|css)$/);
    // Chromium offers brotli on https only; over plain http it takes gzip.
    expect(['br', 'gzip'], f.url).toContain(f.encoding);
    expect(f.cache, f.url).toBe('public, max-age=31536000, immutable');
    expect(f.vary, f.url).toContain('accept-encoding');
  }
  // A client that accepts brotli gets the release bundle's brotli copy, which decodes to the file.
  const wasm = await page.locator('link[rel="preload"][as="fetch"]').getAttribute('href');
  expect(wasm).toMatch(/^\/pkg\/gatehouse\.[\w-]+\.wasm$/);
  const r = await request.get(wasm!, { headers: { 'accept-encoding': 'br' } });
  expect(r.headers()['content-encoding']).toBe('br');
  // Playwright runs in end2end/; the site is built into target/site.
  const onDisk = fs.readFileSync(path.join(process.cwd(), '..', 'target', 'site', wasm!));
  expect(Buffer.compare(await r.body(), onDisk), 'decoded bytes equal the file').toBe(0);
});
