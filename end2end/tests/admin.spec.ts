import { expect, test, type Page, type APIRequestContext } from '@playwright/test';
import { ids } from './ids';
import { signInAtProvider, signUp, uniqueEmail } from './helpers';

/// Signs the seeded admin in, starting from `path`; finishes onboarding the first time.
async function signInAsAdmin(page: Page, request: APIRequestContext, path: string) {
  await page.goto(path);
  await signInAtProvider(page, request, 'admin@example.com');
  await expect(page).toHaveURL(/\/(onboarding|admin)/);
  if (page.url().includes('/onboarding')) {
    await page.getByTestId(ids.onboardingName).fill('Ada Admin');
    await page.getByTestId(ids.onboardingSubmit).click();
  }
  await expect(page).toHaveURL(new RegExp(path.replace(/[?]/g, '\\?') + '$'));
}

async function fillIdentity(page: Page, email: string, first: string, last: string) {
  await page.getByTestId(ids.adminEmail).fill(email);
  await page.getByTestId(ids.adminFirstName).fill(first);
  await page.getByTestId(ids.adminLastName).fill(last);
}

test('an admin creates, edits, deactivates, reactivates and deletes an identity; the audit trail shows it all', async ({ page, request, browser }, info) => {
  const js = info.project.name === 'js';
  const email = uniqueEmail(info, 'managed');
  await signInAsAdmin(page, request, '/admin/identities');
  await expect(page.getByTestId(ids.adminNav)).toBeVisible();
  await expect(page.getByTestId(ids.adminTable)).toContainText('admin@example.com');
  await expect(page.getByTestId(ids.adminTotal)).toContainText(/\d+ identities · page 1 of \d+/);

  // A bad email: checked as it is typed with JavaScript, by the server without.
  const form = page.getByTestId(ids.adminCreateForm);
  await fillIdentity(page, 'not-an-email', 'Eve', 'Example');
  if (js) {
    await expect(page.getByTestId(ids.adminCreateSubmit)).toBeDisabled();
  } else {
    await page.getByTestId(ids.adminCreateSubmit).click();
  }
  await expect(form.getByTestId('field-error-email')).toHaveText('An email address needs an @, like name@example.com.');

  // A duplicate email: the provider refuses it, the message sits at the field.
  await fillIdentity(page, 'user@example.com', 'Eve', 'Example');
  if (js) {
    // Typing a valid address clears the message at once; without JavaScript it stays until the next submit.
    await expect(form.getByTestId('field-error-email')).toHaveCount(0);
  }
  await page.getByTestId(ids.adminCreateSubmit).click();
  await expect(form.getByTestId('field-error-email')).toHaveText('An identity with this email already exists.');

  // Created: shown on its own page.
  await fillIdentity(page, email, 'Eve', 'Example');
  await page.getByTestId(ids.adminCreateSubmit).click();
  await expect(page).toHaveURL(/\/admin\/identities\/[0-9a-f-]+\?notice=created$/);
  await expect(page.getByTestId(ids.adminNotice)).toHaveText('Identity created.');
  await expect(page.getByTestId(ids.adminState)).toHaveText('active');
  const identityUrl = page.url().replace(/\?.*$/, '');

  // Edited.
  await page.getByTestId(ids.adminFirstName).fill('Evelyn');
  await page.getByTestId(ids.adminSave).click();
  await expect(page.getByTestId(ids.adminNotice)).toHaveText('Changes saved.');
  await expect(page.getByTestId(ids.adminFirstName)).toHaveValue('Evelyn');

  // Deactivated: that person cannot sign in.
  await page.getByTestId(ids.adminToggleState).click();
  await expect(page.getByTestId(ids.adminNotice)).toContainText('Identity deactivated');
  await expect(page.getByTestId(ids.adminState)).toHaveText('inactive');
  const other = await browser.newContext();
  const them = await other.newPage();
  await them.goto('/profile');
  await them.getByLabel('Email').fill(email);
  await them.getByRole('button', { name: 'Continue' }).click();
  await expect(them.getByText('This account has been deactivated')).toBeVisible();

  // Reactivated: now they can.
  await page.getByTestId(ids.adminToggleState).click();
  await expect(page.getByTestId(ids.adminNotice)).toContainText('Identity activated');
  await expect(page.getByTestId(ids.adminState)).toHaveText('active');
  await them.goto('/profile');
  await signInAtProvider(them, request, email);
  await expect(them).toHaveURL(/\/onboarding\?return_to=%2Fprofile$/);
  await other.close();

  // Deleted, after a confirmation step.
  await page.goto(identityUrl);
  await page.getByTestId(ids.adminDeleteLink).click();
  await expect(page.getByRole('heading', { name: `Delete ${email}?` })).toBeVisible();
  await page.getByTestId(ids.adminDeleteConfirm).click();
  await expect(page).toHaveURL(/\/admin\/identities\?notice=deleted$/);
  await expect(page.getByTestId(ids.adminNotice)).toHaveText('Identity deleted.');
  await page.goto(`/admin/identities?email=${encodeURIComponent(email)}`);
  await expect(page.getByTestId(ids.adminTotal)).toContainText('0 identities');

  // The audit trail, newest first.
  await page.goto('/admin/audit');
  const rows = page.getByTestId(ids.auditRow).filter({ hasText: email });
  await expect(rows).toHaveCount(5);
  const actions = await rows.locator('td:nth-child(3)').allTextContents();
  expect(actions).toEqual(['delete', 'activate', 'deactivate', 'update', 'create']);
  await expect(rows.first()).toContainText('admin@example.com');
  await expect(rows.first()).toContainText('ok');
  await expect(page.getByTestId(ids.auditRow).filter({ hasText: 'conflict: email exists' }).first()).toBeVisible();
});

test('the identity table pages and filters', async ({ page, request }) => {
  await signInAsAdmin(page, request, '/admin/identities?per_page=25');
  await expect(page.getByTestId(ids.adminPerPage)).toHaveValue('25');
  await page.getByLabel('Email', { exact: true }).first().fill('user@example.com');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/email=user%40example\.com/);
  await expect(page.getByTestId(ids.adminRow)).toHaveCount(1);
  await expect(page.getByTestId(ids.adminTotal)).toContainText('1 identities · page 1 of 1');
  await expect(page.getByTestId(ids.adminNext)).toHaveCount(0);
});

test('a non-admin sees no admin navigation and /admin/identities answers forbidden', async ({ page, request }, info) => {
  await signUp(page, request, uniqueEmail(info, 'nonadmin'));
  await expect(page.getByTestId(ids.signedInAs)).toBeVisible();
  await expect(page.getByTestId(ids.adminNav)).toHaveCount(0);
  const response = await page.goto('/admin/identities');
  expect(response?.status()).toBe(403);
  await expect(page.getByTestId(ids.adminForbidden)).toContainText('Forbidden');
  await expect(page.getByTestId(ids.adminTable)).toHaveCount(0);
});

test('what an admin types before the form wakes up is kept when it hydrates', async ({ page, request }, info) => {
  test.skip(info.project.name !== 'js', 'hydration needs JavaScript');
  await signInAsAdmin(page, request, '/admin/identities');
  // Hold the bundle back, reload, type, then let the page hydrate.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/*.wasm', async (route) => {
    await held;
    await route.continue();
  });
  await page.reload();
  await fillIdentity(page, 'early@example.com', 'Early', 'Bird');
  await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  release();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId(ids.adminEmail)).toHaveValue('early@example.com');
  await expect(page.getByTestId(ids.adminFirstName)).toHaveValue('Early');
  await expect(page.getByTestId(ids.adminLastName)).toHaveValue('Bird');
  // The field check runs once hydrated.
  await page.getByTestId(ids.adminEmail).fill('not-an-email');
  await expect(page.getByTestId(ids.adminCreateSubmit)).toBeDisabled();
});
