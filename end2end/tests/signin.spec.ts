import { expect, test } from '@playwright/test';
import { ids } from './ids';

// Signs in at the embedded provider: email, then the passcode from its mailbox.
test('an existing user signs in, comes back to the page, and signs out', async ({ page, request }) => {
  await page.goto('/no-such-page-yet');
  await page.getByTestId(ids.signinLink).click();
  await expect(page.getByRole('heading', { name: 'Sign in or create an account' })).toBeVisible();
  await page.getByLabel('Email').fill('user@example.com');
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('heading', { name: 'Enter your passcode' })).toBeVisible();

  const provider = new URL(page.url()).origin;
  const mail = await (await request.get(`${provider}/mailbox/messages?email=user@example.com`)).json();
  await page.getByLabel('Passcode').fill(mail[0].passcode);
  await page.getByRole('button', { name: 'Sign in' }).click();

  await expect(page).toHaveURL(/\/no-such-page-yet$/);
  await expect(page.getByTestId(ids.signedInAs)).toHaveText('user@example.com');

  await page.getByTestId(ids.signoutButton).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId(ids.signinLink)).toBeVisible();
});
