import AxeBuilder from '@axe-core/playwright';
import * as path from 'node:path';
import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { ids } from './ids';
import { signInAsAdmin, signOut, toPasscodeStep, uniqueEmail, virtualAuthenticator } from './helpers';

// Every page of the app and of the local provider, checked by axe-core in
// light and dark mode at 1280 and 360 px: no serious or critical violation of
// WCAG 2.1 A/AA (contrast ≥ 4.5:1 included) or axe's best practices. A
// full-page screenshot of each page, scheme and width is kept under
// end2end/test-results/screenshots/ as a test artifact.
//
// axe runs in the page, so this suite runs in the JavaScript project (after
// hydration, islands included); the no-JS project proves the same pages
// work server-rendered in their own specs.

const SCHEMES = ['light', 'dark'] as const;
const WIDTHS = [1280, 360] as const;
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, 'axe runs inside the page');

/// Every route's title, to check that no two app pages share one.
const titles = new Map<string, string>();
test.describe.configure({ timeout: 240_000 });

/// Audits the page as it is now in every scheme and width; screenshots each.
async function audit(page: Page, info: TestInfo, name: string) {
  const title = await page.title();
  expect(title.trim(), `${name}: every page has a title`).not.toBe('');
  // axe rates a duplicate id as minor; a label or dialog pointing at the wrong element is not.
  const duplicates = await page.evaluate(() => {
    const seen = new Set<string>();
    return [...document.querySelectorAll('[id]')].map((e) => e.id).filter((id) => seen.has(id) || !seen.add(id));
  });
  expect(duplicates, `${name}: ids are unique`).toEqual([]);
  const url = new URL(page.url());
  if (url.origin === new URL(info.project.use.baseURL ?? page.url()).origin) {
    // One title per route (an identity's id does not make a route of its own).
    const route = url.pathname.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/, ':id');
    const other = [...titles.entries()].find(([r, t]) => t === title && r !== route);
    expect(other?.[0], `${name} (${route}) has a title of its own, not "${title}"`).toBeUndefined();
    titles.set(route, title);
  }
  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      const results = await new AxeBuilder({ page }).withTags(TAGS).analyze();
      const serious = results.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
      const file = path.join(info.project.outputDir, 'screenshots', `${name}-${scheme}-${width}.png`);
      await page.screenshot({ path: file, fullPage: true });
      expect.soft(serious, `${name} in ${scheme} mode at ${width} px`).toEqual([]);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test('signed-out pages: home, not found, sign-in failure, provider error and mailbox', async ({ page, request }, info) => {
  await page.goto('/');
  await hydrated(page);
  await audit(page, info, 'home-signed-out');

  await page.goto('/no/such/page');
  await hydrated(page);
  await audit(page, info, 'not-found');

  await page.goto('/login?code=made-up&state=made-up');
  await expect(page.getByRole('heading', { name: 'Sign-in did not complete' })).toBeVisible();
  await audit(page, info, 'signin-failed');

  // The provider's pages: where the home page's sign-in link leads.
  await page.goto('/');
  await page.getByTestId(ids.homeSignin).click();
  await expect(page.getByRole('heading', { name: 'Sign in or create an account' })).toBeVisible();
  const provider = new URL(page.url()).origin;
  await audit(page, info, 'provider-signin');

  await page.goto(`${provider}/oauth2/auth`);
  await expect(page.getByRole('alert')).toBeVisible();
  await audit(page, info, 'provider-error');

  await page.goto(`${provider}/profile`);
  await expect(page.getByRole('heading', { name: 'Not signed in' })).toBeVisible();
  await audit(page, info, 'provider-profile-signed-out');

  // Leave a message in the mailbox so the table is not empty.
  await page.goto('/login?return_to=/profile');
  await page.getByLabel('Email').fill(uniqueEmail(info, 'a11y-mail'));
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('First name').fill('Mia');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.goto(`${provider}/mailbox`);
  await expect(page.getByRole('heading', { name: 'Mailbox' })).toBeVisible();
  await audit(page, info, 'provider-mailbox');
  void request;
});

test('the sign-in journey, onboarding, profile and the provider account pages', async ({ page, request }, info) => {
  const email = uniqueEmail(info, 'a11y');
  await page.goto('/profile');
  await expect(page.getByRole('heading', { name: 'Sign in or create an account' })).toBeVisible();
  const provider = new URL(page.url()).origin;

  // A bad email shows the inline error.
  await page.getByLabel('Email').fill('not-an-email');
  await page.getByLabel('Email').evaluate((el: HTMLInputElement) => el.removeAttribute('required'));
  await page.getByLabel('Email').evaluate((el: HTMLInputElement) => (el.type = 'text'));
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByTestId('login-error')).toBeVisible();
  await audit(page, info, 'provider-signin-error');

  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('heading', { name: 'Create your account' })).toBeVisible();
  await audit(page, info, 'provider-register');

  await page.getByLabel('First name').fill('Ada');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Enter your passcode' })).toBeVisible();
  await audit(page, info, 'provider-passcode');

  await page.getByLabel('Passcode').fill('000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('login-error')).toBeVisible();
  await audit(page, info, 'provider-passcode-error');

  const mail = await (await request.get(`${provider}/mailbox/messages?email=${encodeURIComponent(email)}`)).json();
  await page.getByLabel('Passcode').fill(mail[0].passcode);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/onboarding\?return_to=%2Fprofile$/);
  await hydrated(page);
  await audit(page, info, 'onboarding');

  await page.getByTestId(ids.onboardingName).fill('Ada Lovelace');
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/profile$/);
  await hydrated(page);
  await audit(page, info, 'profile');
  await page.getByTestId(ids.technicalDetails).locator('summary').click();
  await expect(page.getByTestId(ids.idClaims)).toBeVisible();
  await audit(page, info, 'profile-details');

  await page.goto('/');
  await hydrated(page);
  await expect(page.getByTestId(ids.greeting)).toBeVisible();
  await audit(page, info, 'home-signed-in');

  await page.goto('/admin/identities');
  await expect(page.getByTestId(ids.adminForbidden)).toBeVisible();
  await audit(page, info, 'admin-forbidden');

  await page.goto(`${provider}/profile`);
  await expect(page.getByRole('heading', { name: 'Your profile' })).toBeVisible();
  await audit(page, info, 'provider-profile');

  await page.goto(`${provider}/oauth2/sessions/logout`);
  await expect(page.getByRole('heading', { name: 'Sign out?' })).toBeVisible();
  await audit(page, info, 'provider-logout-confirm');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'You are signed out' })).toBeVisible();
  await audit(page, info, 'provider-signed-out');
});

test('the admin dashboard', async ({ page, request }, info) => {
  await signInAsAdmin(page, request, '/admin/identities');
  await expect(page.getByTestId(ids.adminTable)).toBeVisible();
  await hydrated(page);
  await audit(page, info, 'admin-identities');

  await page.getByTestId(ids.adminRow).first().getByRole('link').click();
  await expect(page.getByTestId(ids.adminEditForm)).toBeVisible();
  await hydrated(page);
  await audit(page, info, 'admin-identity');

  // With JavaScript the destructive actions ask in a dialog; without, on a page.
  const identityUrl = page.url();
  await page.getByTestId(ids.adminDeleteLink).click();
  await expect(page.getByRole('dialog')).toBeVisible();
  await audit(page, info, 'admin-delete-dialog');
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toBeHidden();

  await page.goto(`${identityUrl.replace(/\?.*$/, '')}/delete`);
  await expect(page.getByTestId(ids.adminDeleteForm)).toBeVisible();
  await audit(page, info, 'admin-delete');

  await page.goto('/admin/audit');
  // The trail, or its empty state when this server has seen no admin action yet.
  await expect(page.getByTestId(ids.auditTable).or(page.getByTestId(ids.auditEmpty))).toBeVisible();
  await hydrated(page);
  await audit(page, info, 'admin-audit');

  await page.goto('/');
  await expect(page.getByTestId(ids.homeAdmin)).toBeVisible();
  await audit(page, info, 'home-admin');
});

test('passkey pages: the offer, a cancelled prompt, the provider profile with a passkey, the passkey step, the admin view', async ({
  page,
  context,
  browser,
  request,
}, info) => {
  const { cdp, authenticatorId } = await virtualAuthenticator(context, page);
  const email = uniqueEmail(info, 'a11y-passkey');
  await page.goto('/profile');
  const { provider, mail } = await toPasscodeStep(page, request, email, 'Pax');
  await expect(page.locator('input[name="passkey"]')).toHaveValue('1');
  await page.getByLabel('Passcode').fill(mail[0].passcode);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Sign in faster next time' })).toBeVisible();
  await audit(page, info, 'provider-passkey-offer');

  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
  await page.getByTestId('passkey-create').click();
  await expect(page.getByTestId('passkey-error')).toBeVisible();
  await audit(page, info, 'provider-passkey-offer-error');
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });
  await page.getByTestId('passkey-create').click();
  await page.getByTestId(ids.onboardingName).fill('Pax Passkey');
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/profile$/);

  await page.goto(`${provider}/profile`);
  await expect(page.getByTestId('passkey')).toHaveCount(1);
  await audit(page, info, 'provider-profile-passkeys');

  // The step after the email, with the prompt refused so the page stays.
  await page.goto('/');
  await signOut(page);
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
  await page.goto('/profile');
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('heading', { name: 'Use your passkey' })).toBeVisible();
  await expect(page.getByTestId('passkey-error')).toBeVisible();
  await audit(page, info, 'provider-passkey-step');

  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await signInAsAdmin(admin, request, `/admin/identities?email=${email}`);
  await admin.getByTestId(ids.adminRow).getByRole('link').first().click();
  await expect(admin.getByTestId(ids.adminPasskey)).toHaveCount(1);
  await hydrated(admin);
  await audit(admin, info, 'admin-identity-passkeys');
  await adminContext.close();
});
