import { expect, type APIRequestContext, type BrowserContext, type Page, type TestInfo } from '@playwright/test';
import { ids } from './ids';

/// An email no other test (or project, or run) uses.
export function uniqueEmail(info: TestInfo, tag: string): string {
  const rand = Math.random().toString(36).slice(2, 8);
  return `${tag}-${info.project.name}-${Date.now().toString(36)}-${rand}@example.com`;
}

/// On the provider's sign-in page: enter the email, register if the provider
/// asks to (with `firstName`), then the passcode from the provider's mailbox.
export async function signInAtProvider(page: Page, request: APIRequestContext, email: string, firstName = 'Nia') {
  const { provider, mail } = await toPasscodeStep(page, request, email, firstName);
  // Tests running in parallel may sign the same user in at once: each sign-in
  // has its own passcode, so try the newest few until the provider lets us through.
  for (const [i, message] of mail.slice(0, 3).entries()) {
    await page.getByLabel('Passcode').fill(message.passcode);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const leftProvider = await page
      .waitForURL((u) => u.origin !== provider, { timeout: i + 1 < Math.min(mail.length, 3) ? 3_000 : 10_000 })
      .then(() => true, () => false);
    if (leftProvider) return;
  }
}

/// On the provider's sign-in page: the email, registration if the provider asks
/// (with `firstName`), up to the passcode form; returns the provider's origin
/// and the messages in the mailbox for `email`, newest first.
export async function toPasscodeStep(page: Page, request: APIRequestContext, email: string, firstName = 'Nia') {
  await expect(page.getByRole('heading', { name: 'Sign in or create an account' })).toBeVisible();
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  const create = page.getByRole('heading', { name: 'Create your account' });
  const passcode = page.getByRole('heading', { name: 'Enter your passcode' });
  await expect(create.or(passcode)).toBeVisible();
  if (await create.isVisible()) {
    await page.getByLabel('First name').fill(firstName);
    await page.getByRole('button', { name: 'Create account' }).click();
  }
  await expect(passcode).toBeVisible();
  const provider = new URL(page.url()).origin;
  const mail: { passcode: string }[] = await (
    await request.get(`${provider}/mailbox/messages?email=${encodeURIComponent(email)}`)
  ).json();
  return { provider, mail };
}

/// Registers a new user through the app and finishes onboarding; ends signed in on `/profile`.
export async function signUp(page: Page, request: APIRequestContext, email: string, displayName = 'Test User') {
  await page.goto('/profile');
  await signInAtProvider(page, request, email);
  await expect(page).toHaveURL(/\/onboarding\?return_to=%2Fprofile$/);
  await page.getByTestId(ids.onboardingName).fill(displayName);
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.displayName)).toHaveText(displayName);
}

export async function signOut(page: Page) {
  await page.getByTestId(ids.signoutButton).first().click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId(ids.signinLink)).toBeVisible();
}

/// Signs the seeded admin in, starting from `path`; finishes onboarding the first time.
export async function signInAsAdmin(page: Page, request: APIRequestContext, path: string) {
  await page.goto(path);
  await signInAtProvider(page, request, 'admin@example.com');
  await expect(page).toHaveURL(/\/(onboarding|admin)/);
  if (page.url().includes('/onboarding')) {
    await page.getByTestId(ids.onboardingName).fill('Ada Admin');
    await page.getByTestId(ids.onboardingSubmit).click();
  }
  await expect(page).toHaveURL(new RegExp(path.replace(/[?]/g, '\\?') + '$'));
}

/// Chromium's virtual authenticator for `page`: built in, with resident keys
/// and user verification (like a laptop's fingerprint reader), answering at once.
export async function virtualAuthenticator(context: BrowserContext, page: Page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}
