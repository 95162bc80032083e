import { expect, test, type Page, type Response } from '@playwright/test';
import { ids } from './ids';
import { signInAtProvider, uniqueEmail } from './helpers';

// Runs with JavaScript on: the point is that hydration and every script the
// pages need run under the Content-Security-Policy, and that nothing injected does.
test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, 'needs JavaScript');

const XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', 'javascript:alert(1)'];

/// Records every CSP violation, "Refused to …" console message, dialog and
/// page error, and the headers of every page (main-frame document) loaded.
function watch(page: Page) {
  const problems: string[] = [];
  const documents: Response[] = [];
  page.on('console', (m) => {
    // An answer with an error status (the deliberate 404 page, a refused
    // display name's 422, a missing favicon) is not what is looked for here.
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) return;
    if (m.type() === 'error' || /Refused to|Content Security Policy|securitypolicyviolation/i.test(m.text())) {
      problems.push(`console ${m.type()} at ${page.url()}: ${m.text()}`);
    }
  });
  page.on('dialog', async (d) => {
    problems.push(`dialog: ${d.message()}`);
    await d.dismiss();
  });
  page.on('pageerror', (e) => problems.push(`page error at ${page.url()}: ${e.message}`));
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.request().frame() === page.mainFrame()) documents.push(r);
  });
  // Not subject to the page's policy (injected by the browser's debugging protocol).
  void page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`securitypolicyviolation: ${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  return { problems, documents };
}

/// Every HTML page seen so far carries the headers; app pages allow their nonce only.
async function expectHeaders(documents: Response[]) {
  const html = [];
  for (const r of documents) {
    if (r.status() >= 300 && r.status() < 400) continue;
    const h = await r.allHeaders();
    if (!(h['content-type'] ?? '').startsWith('text/html')) continue;
    html.push(r.url());
    const csp = h['content-security-policy'] ?? '';
    expect(csp, r.url()).toContain("frame-ancestors 'none'");
    expect(csp, r.url()).toContain("object-src 'none'");
    expect(csp, r.url()).toContain("base-uri 'none'");
    expect(csp, r.url()).toContain('form-action');
    expect(csp, r.url()).not.toContain('unsafe-inline');
    expect(h['x-frame-options'], r.url()).toBe('DENY');
    expect(h['x-content-type-options'], r.url()).toBe('nosniff');
    expect(h['referrer-policy'], r.url()).toBeTruthy();
    expect(h['permissions-policy'], r.url()).toBeTruthy();
    expect(h['cross-origin-opener-policy'], r.url()).toBe('same-origin');
  }
  return html;
}

/// The page hydrated; on failure the message lists what went wrong in it.
async function hydrated(page: Page, problems: string[] = []) {
  await expect(page.locator('body'), `not hydrated: ${page.url()}\n${problems.join('\n')}`).toHaveAttribute('data-hydrated', 'true');
}

test('every page of the app and the provider loads and hydrates with zero CSP violations and carries the headers', async ({ page, request, browser }, info) => {
  test.setTimeout(90_000);
  const { problems, documents } = watch(page);
  const email = uniqueEmail(info, 'csp');

  await page.goto('/');
  await hydrated(page);
  await page.goto('/profile');
  // Provider: sign-in, registration and passcode pages.
  await signInAtProvider(page, request, email);
  await expect(page).toHaveURL(/\/onboarding/);
  await hydrated(page);
  await page.getByTestId(ids.onboardingName).fill('Csp Tester');
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/profile$/);
  await hydrated(page);
  // The app's own client marks its server-function calls (here: an island's).
  const call = page.waitForRequest((r) => r.url().includes('/api/userinfo'));
  await page.getByTestId(ids.technicalDetails).locator('summary').click();
  await page.getByTestId(ids.userinfoRefresh).click();
  const sent = await call;
  expect((await sent.allHeaders())['x-gatehouse-client']).toBe('1');
  await page.goto('/');
  await hydrated(page);
  await page.goto('/no-such-page');
  await hydrated(page);

  // The provider's profile and its sign-out confirmation (no hint: it asks first).
  await page.goto('/profile');
  await hydrated(page);
  const providerOrigin = new URL((await page.getByTestId(ids.providerProfileLink).getAttribute('href')) ?? '').origin;
  await page.goto(`${providerOrigin}/profile`);
  await expect(page.getByRole('heading', { name: 'Your profile' })).toBeVisible();
  await page.goto(`${providerOrigin}/oauth2/sessions/logout`);
  await expect(page.getByRole('heading', { name: 'Sign out?' })).toBeVisible();

  // Admin pages, in a second browser.
  const admin = await browser.newContext();
  const adminPage = await admin.newPage();
  const adminWatch = watch(adminPage);
  await adminPage.goto('/admin/identities');
  await signInAtProvider(adminPage, admin.request, 'admin@example.com');
  await expect(adminPage).toHaveURL(/\/(onboarding|admin)/);
  if (adminPage.url().includes('/onboarding')) {
    await adminPage.getByTestId(ids.onboardingName).fill('Ada Admin');
    await adminPage.getByTestId(ids.onboardingSubmit).click();
  }
  await expect(adminPage).toHaveURL(/\/admin\/identities$/);
  await hydrated(adminPage);
  await adminPage.goto(`/admin/identities?email=${encodeURIComponent(email)}`);
  await hydrated(adminPage);
  await adminPage.getByTestId(ids.adminRow).first().getByRole('link').first().click();
  await expect(adminPage).toHaveURL(/\/admin\/identities\/[0-9a-f-]+$/);
  await hydrated(adminPage);
  const identity = adminPage.url();
  await adminPage.goto(`${identity}/delete`);
  await hydrated(adminPage);
  await adminPage.goto('/admin/audit');
  await hydrated(adminPage);

  const appPages = await expectHeaders(documents);
  const adminPages = await expectHeaders(adminWatch.documents);
  expect(appPages.some((u) => u.startsWith(providerOrigin)), 'provider pages were checked').toBe(true);
  expect(adminPages.length).toBeGreaterThanOrEqual(5);
  expect(problems, problems.join('\n')).toEqual([]);
  expect(adminWatch.problems, adminWatch.problems.join('\n')).toEqual([]);
  await admin.close();
});

test('stored script payloads never run on any page that shows them', async ({ page, request, browser }, info) => {
  test.setTimeout(90_000);
  const { problems } = watch(page);
  const email = uniqueEmail(info, 'xss');

  // Display name: markup is refused by validation; a javascript: URL is only text.
  await page.goto('/profile');
  await signInAtProvider(page, request, email);
  await expect(page).toHaveURL(/\/onboarding/);
  await hydrated(page);
  await page.getByTestId(ids.onboardingName).fill(XSS[0]);
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/onboarding/);
  await page.getByTestId(ids.onboardingName).fill(XSS[2]);
  await page.getByTestId(ids.onboardingSubmit).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId(ids.displayName)).toHaveText(XSS[2]);

  // Provider profile: traits carry the payloads; the app shows them after the next sign-in.
  const providerOrigin = new URL((await page.getByTestId(ids.providerProfileLink).getAttribute('href')) ?? '').origin;
  await page.goto(`${providerOrigin}/profile`);
  await page.getByLabel('First name').fill(XSS[1]);
  await page.getByLabel('Last name').fill(XSS[0]);
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByLabel('First name')).toHaveValue(XSS[1]);
  await page.goto('/profile');
  await hydrated(page);
  await expect(page.getByTestId(ids.userinfo)).toContainText('onerror=alert(1)');

  // Admin: create and edit identities with the payloads as traits, then view
  // them in the list, on their page, and in the audit trail.
  const admin = await browser.newContext();
  const adminPage = await admin.newPage();
  const adminWatch = watch(adminPage);
  await adminPage.goto('/admin/identities');
  await signInAtProvider(adminPage, admin.request, 'admin@example.com');
  if (adminPage.url().includes('/onboarding')) {
    await adminPage.getByTestId(ids.onboardingName).fill('Ada Admin');
    await adminPage.getByTestId(ids.onboardingSubmit).click();
  }
  await expect(adminPage).toHaveURL(/\/admin\/identities$/);
  await hydrated(adminPage);
  // The admin form refuses markup in names outright…
  const created = uniqueEmail(info, 'xss-admin');
  await adminPage.getByTestId(ids.adminEmail).fill(created);
  await adminPage.getByTestId(ids.adminFirstName).fill(XSS[0]);
  await adminPage.getByTestId(ids.adminLastName).fill(XSS[1]);
  await expect(adminPage.getByTestId(ids.adminCreateSubmit)).toBeDisabled();
  // …and what it accepts (attribute breakers without angle brackets, javascript: URLs) stays text.
  await adminPage.getByTestId(ids.adminFirstName).fill(XSS[2]);
  await adminPage.getByTestId(ids.adminLastName).fill("' onmouseover='alert(1)");
  await adminPage.getByTestId(ids.adminCreateSubmit).click();
  await expect(adminPage).toHaveURL(/\/admin\/identities\/[0-9a-f-]+\?notice=created$/);
  await adminPage.getByTestId(ids.adminFirstName).fill("x' autofocus onfocus='alert(1)");
  await adminPage.getByTestId(ids.adminSave).click();
  await expect(adminPage.getByTestId(ids.adminNotice)).toBeVisible();
  await adminPage.reload();
  await hydrated(adminPage, adminWatch.problems);
  await adminPage.getByTestId(ids.adminLastName).hover();
  for (const filter of [created, email]) {
    await adminPage.goto(`/admin/identities?email=${encodeURIComponent(filter)}`);
    await hydrated(adminPage);
    await expect(adminPage.getByTestId(ids.adminTable)).toContainText(filter);
  }
  await expect(adminPage.getByTestId(ids.adminTable)).toContainText('onerror=alert(1)');
  await adminPage.goto('/admin/audit');
  await hydrated(adminPage);

  expect(problems, problems.join('\n')).toEqual([]);
  expect(adminWatch.problems, adminWatch.problems.join('\n')).toEqual([]);
  await admin.close();
});
