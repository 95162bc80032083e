import { expect, test, type APIRequestContext, type Page, type Route } from '@playwright/test';
import { ids } from './ids';
import { signInAsAdmin, signOut, toPasscodeStep, uniqueEmail, virtualAuthenticator } from './helpers';

// Passkeys at the local provider, with Chromium's virtual authenticator (a
// built-in one with user verification, like a laptop's fingerprint reader).
test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, 'passkeys need JavaScript');

/// Opens `path` with the email form's autofill request (the first passkey
/// start) failing, so that the virtual authenticator, which answers autofill
/// at once, does not; returns once it has failed, so the button or the email
/// step is what asks next.
async function openWithoutAutofill(page: Page, path: string) {
  let first = true;
  const handler = async (route: Route) => {
    if (first) {
      first = false;
      await route.abort();
    } else {
      await route.continue();
    }
  };
  await page.route('**/login/passkey/start', handler);
  const failed = page.waitForEvent('requestfailed', (r) => r.url().endsWith('/login/passkey/start'));
  await page.goto(path);
  await failed;
  await page.unroute('**/login/passkey/start', handler);
}

/// From the provider's email form: email, registration if asked, the newest
/// passcode from the mailbox (the provider may then offer a passkey).
async function passcodeSignIn(page: Page, request: APIRequestContext, email: string) {
  const { mail } = await toPasscodeStep(page, request, email, 'Pia');
  // The page's script has found the built-in authenticator (what makes the provider offer a passkey).
  await expect(page.locator('input[name="passkey"]')).toHaveValue('1');
  await page.getByLabel('Passcode').fill(mail[0].passcode);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

test('a passkey made after a passcode signs in alone, is managed at the provider, and the passcode stays the fallback', async ({
  page,
  context,
  request,
}, info) => {
  const { cdp, authenticatorId } = await virtualAuthenticator(context, page);
  const email = uniqueEmail(info, 'passkey');

  await page.goto('/profile');
  await passcodeSignIn(page, request, email);
  // The offer, because this browser has a built-in authenticator.
  await expect(page.getByRole('heading', { name: 'Sign in faster next time' })).toBeVisible();
  await page.getByTestId('passkey-create').click();
  await expect(page).toHaveURL(/\/onboarding/);
  await page.getByTestId(ids.onboardingName).fill('Pia Passkey');
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.signInMethod)).toContainText('Signed in with a one-time passcode');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  expect(credentials).toHaveLength(1);
  expect(credentials[0].isResidentCredential, 'a discoverable credential').toBe(true);

  // Signed out everywhere, then back with the passkey alone: no email, no
  // passcode. The email field offers passkeys as it autocompletes
  // (conditional mediation); Chromium's virtual authenticator picks the one
  // it has at once, as a user picking it from the list would.
  await signOut(page);
  const autofill = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/login/passkey/start'));
  await page.goto('/profile');
  expect((await autofill).postData()).toContain('mode=discover');
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.signInMethod)).toContainText('Signed in with a passkey');

  // The button: the same passkey, asked for at once (the autofill request is cancelled first).
  await signOut(page);
  await openWithoutAutofill(page, '/profile');
  await expect(page.getByRole('heading', { name: 'Sign in or create an account' })).toBeVisible();
  await expect(page.getByLabel('Email')).toHaveAttribute('autocomplete', 'username webauthn');
  await page.getByTestId('passkey-signin').click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.signInMethod)).toContainText('Signed in with a passkey');

  // The email step: someone with a passkey is asked for it instead of a passcode.
  await signOut(page);
  await openWithoutAutofill(page, '/profile');
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.signInMethod)).toContainText('Signed in with a passkey');

  // The provider's profile lists it; adding it again is refused by the
  // authenticator (the provider excludes the passkeys already registered).
  await page.getByTestId(ids.providerProfileLink).click();
  await expect(page.getByRole('heading', { name: 'Passkeys' })).toBeVisible();
  const item = page.getByTestId('passkey');
  await expect(item).toHaveCount(1);
  await page.getByTestId('passkey-add').click();
  await expect(page.getByTestId('passkey-error')).toContainText('This device already has a passkey for your account');
  await expect(item).toHaveCount(1);
  await expect(item.getByTestId('passkey-name')).toHaveText('Chrome on Linux');
  await expect(item).toContainText('last used');
  await item.getByLabel('Name').fill('Work laptop');
  await item.getByRole('button', { name: 'Rename' }).click();
  await expect(page.getByTestId('profile-notice')).toHaveText('Your passkey was renamed.');
  await expect(page.getByTestId('passkey-name')).toHaveText('Work laptop');
  await page.getByRole('button', { name: 'Delete the passkey Work laptop' }).click();
  await expect(page.getByTestId('profile-notice')).toContainText('Your passkey was deleted.');
  await expect(page.getByTestId('passkeys-empty')).toBeVisible();

  // The authenticator still holds it, but the provider refuses it (offered
  // by autofill, then asked for with the button), says why, and the passcode works.
  await page.goto('/');
  await signOut(page);
  await page.goto('/profile');
  await expect(page.getByTestId('passkey-error')).toContainText('not registered here any more');
  await page.getByTestId('passkey-signin').click();
  await expect(page.getByTestId('passkey-error')).toContainText('not registered here any more');
  await passcodeSignIn(page, request, email);
  // No passkey any more, so the offer comes again; this time: not now.
  await expect(page.getByRole('heading', { name: 'Sign in faster next time' })).toBeVisible();
  await page.getByTestId('passkey-skip').click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.signInMethod)).toContainText('Signed in with a one-time passcode');
});

test('cancelling the passkey prompt keeps the user on the page with a clear message', async ({ page, context, request }, info) => {
  const { cdp, authenticatorId } = await virtualAuthenticator(context, page);
  const email = uniqueEmail(info, 'passkey-cancel');
  await page.goto('/profile');
  await passcodeSignIn(page, request, email);
  await expect(page.getByRole('heading', { name: 'Sign in faster next time' })).toBeVisible();
  // The user declines the fingerprint prompt.
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
  await page.getByTestId('passkey-create').click();
  await expect(page.getByTestId('passkey-error')).toContainText('The passkey prompt was closed or timed out');
  await expect(page.getByTestId('passkey-create')).toBeEnabled();
  // Trying again works once the user confirms.
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });
  await page.getByTestId('passkey-create').click();
  await expect(page).toHaveURL(/\/onboarding/);
});

test('an admin sees and removes a user’s passkey, the audit trail shows it, and it no longer signs in', async ({
  page,
  context,
  browser,
  request,
}, info) => {
  await virtualAuthenticator(context, page);
  const email = uniqueEmail(info, 'passkey-admin');
  await page.goto('/profile');
  await passcodeSignIn(page, request, email);
  await page.getByTestId('passkey-create').click();
  await expect(page).toHaveURL(/\/onboarding/);
  await page.getByTestId(ids.onboardingName).fill('Ola Owner');
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/profile$/);

  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await signInAsAdmin(admin, request, `/admin/identities?email=${email}`);
  await admin.getByTestId(ids.adminRow).getByRole('link').first().click();
  await expect(admin.getByRole('heading', { name: email })).toBeVisible();
  const passkey = admin.getByTestId(ids.adminPasskey);
  await expect(passkey).toHaveCount(1);
  await expect(passkey).toContainText('Chrome on Linux');
  await expect(admin.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await passkey.getByTestId(ids.adminRemovePasskey).click();
  await expect(admin.getByRole('dialog')).toBeVisible();
  await expect(admin.getByRole('heading', { name: `Remove the passkey Chrome on Linux of ${email}?` })).toBeVisible();
  await admin.getByTestId(`${ids.adminRemovePasskey}-confirm`).click();
  await expect(admin.getByTestId(ids.adminNotice)).toContainText('Passkey removed');
  await expect(admin.getByTestId(ids.adminPasskeysEmpty)).toBeVisible();
  await admin.goto('/admin/audit');
  const row = admin.getByTestId(ids.auditRow).filter({ hasText: email }).first();
  await expect(row).toContainText('remove passkey');
  await expect(row).toContainText('Chrome on Linux');
  await adminContext.close();

  // The user's authenticator still has it; the provider no longer accepts it.
  await signOut(page);
  await page.goto('/profile');
  await expect(page.getByTestId('passkey-error')).toContainText('not registered here any more');
});
