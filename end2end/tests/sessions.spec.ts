import { expect, test } from '@playwright/test';
import { ids } from './ids';
import { signInAtProvider, signUp, uniqueEmail } from './helpers';

test('the profile lists both browsers of a user, and ending the other one signs it out', async ({ page, request, browser }, info) => {
  const email = uniqueEmail(info, 'sessions');
  await signUp(page, request, email);
  const other = await browser.newContext();
  const them = await other.newPage();
  await them.goto('/profile');
  await signInAtProvider(them, request, email);
  await expect(them).toHaveURL(/\/profile$/);

  await page.reload();
  await expect(page.getByTestId(ids.sessionRow)).toHaveCount(2);
  await expect(page.getByTestId(ids.sessionCurrent)).toHaveCount(1);
  await page.getByTestId(ids.sessionEnd).click();
  await expect(page.getByTestId(ids.sessionRow)).toHaveCount(1);
  await expect(page.getByTestId(ids.sessionCurrent)).toHaveCount(1);

  // The other browser's session in this app is over. (Its single sign-on
  // session at the provider is not: visiting /login there signs it in again.)
  // A request from the app's own pages carries its origin.
  const me = await them.request.post('/api/current_user', {
    headers: { accept: 'application/json', origin: new URL(page.url()).origin },
  });
  expect(await me.json()).toBeNull();
  await other.close();
});
