import { expect, test } from '@playwright/test';
import { ids } from './ids';

// Runs in the interop-basic and interop-post projects: the app is configured
// with OIDC_ISSUER pointing at `oidc-provider` (npm, OpenID Certified) and
// client_secret_basic or client_secret_post (see playwright.config.ts).
test('sign-in, onboarding, profile and sign-out against oidc-provider', async ({ page }, info) => {
  const login = `interop-${info.project.name}-${Date.now().toString(36)}`;
  await page.goto('/profile');
  // oidc-provider's development login form, then its consent prompt.
  await page.getByPlaceholder('Enter any login').fill(login);
  await page.getByPlaceholder('and password').fill('any-password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();

  await expect(page).toHaveURL(/\/onboarding\?return_to=%2Fprofile$/);
  await page.getByTestId(ids.onboardingName).fill('Interop Person');
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.displayName)).toHaveText('Interop Person');
  await expect(page.getByTestId(ids.idClaims)).toContainText(login);
  // Fresh from oidc-provider's userinfo endpoint, with the session's access token (server-side).
  await expect(page.getByTestId(ids.userinfo)).toContainText(`${login}@interop.example`);

  await page.getByTestId(ids.signoutButton).first().click();
  // oidc-provider asks before it ends its own session, then returns to the app.
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId(ids.signinLink)).toBeVisible();
  await page.goto('/profile');
  await expect(page.getByPlaceholder('Enter any login')).toBeVisible();
});
