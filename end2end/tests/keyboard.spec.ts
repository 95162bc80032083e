import { expect, test, type APIRequestContext, type Locator, type Page } from '@playwright/test';
import { ids } from './ids';
import { signInAtProvider, uniqueEmail } from './helpers';

// Keyboard only: no clicks from here on. Runs in both projects; the parts
// that need the bundle (the confirmation dialog) only with JavaScript.

/// Presses Tab until `target` has focus (at most `max` times).
async function tabTo(page: Page, target: Locator, max = 40) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
  }
  throw new Error(`Tab never reached ${target}`);
}

/// The newest passcode the provider's mailbox holds for `email`.
async function passcode(request: APIRequestContext, provider: string, email: string): Promise<string> {
  const mail = await (await request.get(`${provider}/mailbox/messages?email=${encodeURIComponent(email)}`)).json();
  return mail[0].passcode;
}

test('keyboard only: skip link, sign-in, registration and onboarding', async ({ page, request }, info) => {
  const email = uniqueEmail(info, 'keys');
  await page.goto('/');

  // The first Tab reaches the skip link, which is then visible and moves focus past the header.
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
  await expect(skip).toBeVisible();

  await tabTo(page, page.getByTestId(ids.homeSignin));
  await page.keyboard.press('Enter');

  // The provider focuses the email field itself.
  await expect(page.getByRole('heading', { name: 'Sign in or create an account' })).toBeVisible();
  const provider = new URL(page.url()).origin;
  await expect(page.getByLabel('Email')).toBeFocused();
  await page.keyboard.type(email);
  await page.keyboard.press('Enter');

  await expect(page.getByRole('heading', { name: 'Create your account' })).toBeVisible();
  await tabTo(page, page.getByLabel('First name'));
  await page.keyboard.type('Kim');
  await page.keyboard.press('Enter');

  await expect(page.getByRole('heading', { name: 'Enter your passcode' })).toBeVisible();
  await expect(page.getByLabel('Passcode')).toBeFocused();
  await page.keyboard.type(await passcode(request, provider, email));
  await page.keyboard.press('Enter');

  await expect(page).toHaveURL(/\/onboarding\?return_to=%2Fprofile$/);
  await tabTo(page, page.getByTestId(ids.onboardingName));
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type('Kim Keys');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.displayName)).toHaveText('Kim Keys');

  // The technical details open from the keyboard.
  const summary = page.getByTestId(ids.technicalDetails).locator('summary');
  await tabTo(page, summary);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId(ids.idClaims)).toBeVisible();
});

test('keyboard only: an admin finds an identity, edits it, and a dialog asks before deactivating', async ({ page, request }, info) => {
  const js = info.project.name === 'js';
  // A user to edit, created through the admin's own form (keyboard too).
  await page.goto('/admin/identities');
  await signInAtProvider(page, request, 'admin@example.com');
  if (page.url().includes('/onboarding')) {
    await page.getByTestId(ids.onboardingName).fill('Ada Admin');
    await page.keyboard.press('Enter');
  }
  await expect(page.getByTestId(ids.adminTable)).toBeVisible();
  const email = uniqueEmail(info, 'keyed');
  await tabTo(page, page.getByTestId(ids.adminEmail), 80);
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  await page.keyboard.type('Kai');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId(ids.adminNotice)).toHaveText('Identity created.');

  // Find it with the search box.
  await page.goto('/admin/identities');
  await tabTo(page, page.getByTestId(ids.adminSearch));
  await page.keyboard.type(email);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId(ids.adminRow)).toHaveCount(1);
  await tabTo(page, page.getByTestId(ids.adminRow).getByRole('link'));
  await page.keyboard.press('Enter');

  // Edit the first name.
  await expect(page.getByTestId(ids.adminEditForm)).toBeVisible();
  if (js) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await tabTo(page, page.getByTestId(ids.adminFirstName));
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type('Kairos');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId(ids.adminNotice)).toHaveText('Changes saved.');
  await expect(page.getByTestId(ids.adminFirstName)).toHaveValue('Kairos');

  if (!js) return;
  // Deactivate asks first: focus moves into the dialog and stays there; Escape closes it.
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const toggle = page.getByTestId(ids.adminToggleState);
  await tabTo(page, toggle);
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: `Deactivate ${email}?` });
  await expect(dialog).toBeVisible();
  const yes = dialog.getByTestId(`${ids.adminToggleState}-confirm`);
  const cancel = dialog.getByRole('button', { name: 'Cancel' });
  await expect(cancel).toBeFocused();
  // Tab from the last button wraps to the first, Shift+Tab from the first to the last.
  await page.keyboard.press('Tab');
  await expect(yes).toBeFocused();
  await page.keyboard.press('Shift+Tab');
  await expect(cancel).toBeFocused();
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press('Tab');
    expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  }
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(toggle).toBeFocused();
  await expect(page.getByTestId(ids.adminState)).toHaveText('active');

  // Confirmed from the keyboard.
  await page.keyboard.press('Enter');
  await expect(dialog).toBeVisible();
  await tabTo(page, dialog.getByTestId(`${ids.adminToggleState}-confirm`), 5);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId(ids.adminNotice)).toContainText('Identity deactivated');
});

test('when the session ends, a banner offers to sign in again and comes back to the same page', async ({ page, request, context }, info) => {
  test.skip(info.project.name !== 'js', 'the refresh that notices it needs the bundle');
  const email = uniqueEmail(info, 'expired');
  await page.goto('/profile');
  await signInAtProvider(page, request, email);
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId(ids.technicalDetails).locator('summary').click();

  // The session goes away behind the page's back.
  await context.clearCookies();
  await page.getByTestId(ids.userinfoRefresh).click();
  const banner = page.getByTestId(ids.sessionExpired);
  await expect(banner).toBeVisible();
  await expect(banner).toContainText('sign in');
  await banner.getByTestId(ids.signInAgain).click();
  await signInAtProvider(page, request, email);
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.displayName)).toBeVisible();
});
