import { expect, test, type Page, type APIRequestContext } from '@playwright/test';
import { ids } from './ids';
import { signInAsAdmin, signInAtProvider, signUp, uniqueEmail } from './helpers';

/// With JavaScript a destructive action asks in a dialog first: confirm it there.
async function confirmIfAsked(page: Page, js: boolean, testid: string) {
  if (!js) return;
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  await dialog.getByTestId(`${testid}-confirm`).click();
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
  // The field check runs once the form's island has hydrated.
  if (js) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
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

  // Deactivated (after a confirmation dialog with JavaScript): that person cannot sign in.
  if (js) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId(ids.adminToggleState).click();
  await confirmIfAsked(page, js, ids.adminToggleState);
  await expect(page.getByTestId(ids.adminNotice)).toContainText('Identity deactivated');
  await expect(page.getByTestId(ids.adminState)).toHaveText('inactive');
  const other = await browser.newContext();
  const them = await other.newPage();
  await them.goto('/profile');
  await them.getByLabel('Email').fill(email);
  await them.getByRole('button', { name: 'Continue' }).click();
  await expect(them.getByText('This account has been deactivated')).toBeVisible();

  // Reactivated: now they can.
  if (js) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId(ids.adminToggleState).click();
  await confirmIfAsked(page, js, ids.adminToggleState);
  await expect(page.getByTestId(ids.adminNotice)).toContainText('Identity activated');
  await expect(page.getByTestId(ids.adminState)).toHaveText('active');
  await them.goto('/profile');
  await signInAtProvider(them, request, email);
  await expect(them).toHaveURL(/\/onboarding\?return_to=%2Fprofile$/);
  await other.close();

  // Deleted, after a confirmation step: a dialog with JavaScript, a page without.
  await page.goto(identityUrl);
  if (js) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId(ids.adminDeleteLink).click();
  if (js) await expect(page.getByRole('dialog')).toBeVisible();
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
  // An exact email in the URL: the provider's own filter.
  await page.goto('/admin/identities?email=user%40example.com');
  await expect(page.getByTestId(ids.adminRow)).toHaveCount(1);
  await expect(page.getByTestId(ids.adminTotal)).toContainText('1 identity · page 1 of 1');
  await expect(page.getByTestId(ids.adminNext)).toHaveCount(0);
});

test('admins search by email or name, filter by state, sort by creation, and see counts and empty states', async ({ page, request }, info) => {
  const js = info.project.name === 'js';
  await signInAsAdmin(page, request, '/admin/identities');
  // Two identities with a name no other test uses; one deactivated.
  const tag = `Zq${Date.now().toString(36)}${info.project.name.replace(/\W/g, '')}`;
  const first = uniqueEmail(info, 'search-a');
  const second = uniqueEmail(info, 'search-b');
  for (const [email, last] of [[first, 'Older'], [second, 'Newer']] as const) {
    await page.goto('/admin/identities');
    await fillIdentity(page, email, tag, last);
    await page.getByTestId(ids.adminCreateSubmit).click();
    await expect(page.getByTestId(ids.adminNotice)).toHaveText('Identity created.');
  }
  if (js) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId(ids.adminToggleState).click();
  await confirmIfAsked(page, js, ids.adminToggleState);
  await expect(page.getByTestId(ids.adminNotice)).toContainText('Identity deactivated');
  // The toast is dismissed with a plain link: the same page without the notice.
  await page.getByTestId('toast-dismiss').click();
  await expect(page).toHaveURL(/\/admin\/identities\/[0-9a-f-]+$/);
  await expect(page.getByTestId(ids.adminNotice)).toHaveCount(0);
  await expect(page.getByTestId(ids.adminState)).toHaveText('inactive');

  // Search by name (case-insensitive), newest first.
  await page.goto('/admin/identities');
  await page.getByLabel('Search').fill(tag.toLowerCase());
  await page.getByLabel('Order').selectOption('newest');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/q=zq/);
  await expect(page.getByTestId(ids.adminRow)).toHaveCount(2);
  await expect(page.getByTestId(ids.adminRow).first()).toContainText(second);
  await expect(page.getByTestId(ids.adminTotal)).toContainText(/^2 of \d+ identities match · 1 active · 1 inactive · page 1 of 1/);

  // Oldest first, then only the inactive one.
  await page.getByLabel('Order').selectOption('oldest');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByTestId(ids.adminRow).first()).toContainText(first);
  await page.getByLabel('State').selectOption('inactive');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByTestId(ids.adminRow)).toHaveCount(1);
  await expect(page.getByTestId(ids.adminRow)).toContainText(second);
  await expect(page.getByTestId(ids.adminState)).toHaveText('inactive');

  // By email, and an empty result with a way back.
  await page.goto(`/admin/identities?q=${encodeURIComponent(first.split('@')[0])}`);
  await expect(page.getByTestId(ids.adminRow)).toHaveCount(1);
  await page.goto('/admin/identities?q=no-such-person-anywhere');
  await expect(page.getByTestId(ids.adminEmpty)).toContainText('No identities match.');
  await expect(page.getByTestId(ids.adminTable)).toHaveCount(0);
  await page.getByTestId(ids.adminEmpty).getByRole('link', { name: 'Clear the search' }).click();
  await expect(page).toHaveURL(/\/admin\/identities$/);
  await expect(page.getByTestId(ids.adminRow).first()).toBeVisible();
});

test('the identity form stacks its fields, each under its label', async ({ page, request }) => {
  await signInAsAdmin(page, request, '/admin/identities');
  const form = page.getByTestId(ids.adminCreateForm);
  const box = async (testid: string) => (await form.getByTestId(testid).boundingBox())!;
  const [email, first, last] = [await box(ids.adminEmail), await box(ids.adminFirstName), await box(ids.adminLastName)];
  // One field per row, left-aligned (an island's wrapper must not break the form's grid).
  expect(first.y).toBeGreaterThan(email.y + email.height);
  expect(last.y).toBeGreaterThan(first.y + first.height);
  expect(Math.abs(first.x - email.x)).toBeLessThan(2);
  const label = (await form.locator(`label[for="${await form.getByTestId(ids.adminFirstName).getAttribute('id')}"]`).boundingBox())!;
  expect(label.y + label.height).toBeLessThanOrEqual(first.y + 1);
});

test('identity rows become cards on a phone', async ({ page, request }, info) => {
  await signInAsAdmin(page, request, '/admin/identities');
  // A long address and a long name with nowhere to break must still fit.
  const long = `${'w'.repeat(40)}${Date.now().toString(36)}${info.project.name.replace(/\W/g, '')}@example.com`;
  await fillIdentity(page, long, 'Maximilianfriedrichwilhelmvon', 'Wittelsbachhohenzollernsachsen');
  await page.getByTestId(ids.adminCreateSubmit).click();
  await expect(page.getByTestId(ids.adminNotice)).toHaveText('Identity created.');
  await page.setViewportSize({ width: 360, height: 800 });
  await page.goto(`/admin/identities?q=${encodeURIComponent(long)}`);
  await expect(page.getByTestId(ids.adminRow)).toHaveCount(1);
  const row = page.getByTestId(ids.adminRow).first();
  await expect(row).toHaveCSS('display', 'block');
  await expect(page.locator('[data-testid="admin-table"] thead')).toHaveCSS('position', 'absolute');
  // Nothing overflows the screen sideways.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
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
