import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { ids } from './ids';
import { signInAsAdmin, signOut, signUp, uniqueEmail } from './helpers';

// The embedded provider's registration of this app (idp/dev.toml): the audit
// asks the provider itself whether any string the browser saw is a live token.
const CLIENT = { id: 'gatehouse', secret: 'gatehouse-dev-secret-not-for-production' };
const JWT = /eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+/g;
const TOKENISH = /[A-Za-z0-9._~+/-]{20,}={0,2}/g;

type Seen = { where: string; text: string };

async function snapshot(page: Page, seen: Seen[], label: string) {
  seen.push({ where: `${label}: html`, text: await page.content() });
  const storage = await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } }));
  seen.push({ where: `${label}: storage`, text: storage });
  for (const c of await page.context().cookies()) {
    seen.push({ where: `${label}: cookie ${c.name} (${c.domain})`, text: `${c.name}=${c.value}` });
  }
}

/// Records every request and response the page makes (bodies of static bundles excepted).
function record(page: Page): Seen[] {
  const seen: Seen[] = [];
  page.on('request', (req) => seen.push({ where: `request ${req.method()} ${req.url()}`, text: `${req.url()}\n${req.postData() ?? ''}` }));
  page.on('response', async (res) => {
    const url = res.url();
    const headers = Object.entries(await res.allHeaders()).map(([k, v]) => `${k}: ${v}`).join('\n');
    let body = '';
    // Static build output (the WASM and JS bundles) holds no session data.
    if (!/\/pkg\/|\.wasm$|\.svg$/.test(new URL(url).pathname)) {
      body = await res.text().catch(() => '');
    }
    seen.push({ where: `response ${res.status()} ${url}`, text: `${headers}\n\n${body}` });
  });
  return seen;
}

/// 1. No JWT anywhere — except `hintsAllowed` ID tokens as `id_token_hint` in the
///    redirect to the provider's end-session endpoint, which the logout standard
///    requires (sent after the session was deleted here).
/// 2. No live token of any kind: the provider is asked about every token-like string.
async function expectNoToken(seen: Seen[], request: APIRequestContext, provider: string, hintsAllowed: number) {
  const hints = new Set<string>();
  const jwts: string[] = [];
  for (const s of seen) {
    for (const m of s.text.matchAll(JWT)) {
      const isHint = /\/oauth2\/sessions\/logout\?/.test(s.text) && s.text.includes(`id_token_hint=${m[0]}`);
      if (isHint) hints.add(m[0]);
      else jwts.push(`${s.where}: ${m[0].slice(0, 24)}…`);
    }
  }
  expect(jwts, 'JWTs the browser saw').toEqual([]);
  expect(hints.size, 'ID tokens as the end-session hint').toBe(hintsAllowed);

  const candidates = new Set<string>();
  for (const s of seen) for (const m of s.text.matchAll(TOKENISH)) candidates.add(m[0]);
  for (const h of hints) candidates.add(h);
  expect(candidates.size).toBeGreaterThan(10);
  const auth = 'Basic ' + Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64');
  const live: string[] = [];
  for (const token of candidates) {
    const r = await request.post(`${provider}/oauth2/introspect`, { headers: { authorization: auth }, form: { token } });
    expect(r.status()).toBe(200);
    if ((await r.json()).active) live.push(`${token.slice(0, 12)}…`);
  }
  expect(live, 'strings the browser saw that the provider says are live tokens').toEqual([]);
}

test('no token reaches the browser during sign-in, browsing and sign-out', async ({ page, request }, info) => {
  test.skip(info.project.name !== 'js', 'the audit needs the full app, WASM and server-function calls included');
  const seen = record(page);

  const email = uniqueEmail(info, 'audit');
  await signUp(page, request, email);
  await expect(page.getByTestId(ids.userinfo)).toContainText(email);
  await snapshot(page, seen, '/profile');
  await page.getByTestId(ids.technicalDetails).locator('summary').click();
  await page.getByTestId(ids.userinfoRefresh).click();
  await expect(page.getByTestId(ids.userinfo)).toContainText(email);
  await page.goto('/');
  await expect(page.getByTestId(ids.greeting)).toBeVisible();
  await snapshot(page, seen, 'home');
  const provider = seen.find((s) => s.where.includes('/oauth2/auth?'))!.where.match(/https?:\/\/[^/]+/)![0];
  await signOut(page);
  await snapshot(page, seen, 'after sign-out');
  await page.waitForTimeout(200); // let the last response bodies arrive

  await expectNoToken(seen, request, provider, 1);
});

test('no token reaches an admin: neither theirs nor the dashboard\'s machine token', async ({ page, request }, info) => {
  test.skip(info.project.name !== 'js', 'the audit needs the full app, WASM and server-function calls included');
  const seen = record(page);
  await signInAsAdmin(page, request, '/admin/identities');
  await expect(page.getByTestId(ids.adminTable)).toContainText('user@example.com');
  await snapshot(page, seen, '/admin/identities');
  // An identity's page and back, navigated client-side: server-function calls from WASM.
  await page.getByTestId(ids.adminRow).filter({ hasText: 'user@example.com' }).getByRole('link').first().click();
  await expect(page.getByTestId(ids.adminEditForm)).toBeVisible();
  await snapshot(page, seen, 'identity');
  await page.getByTestId(ids.adminNav).click();
  await expect(page.getByTestId(ids.adminTable)).toBeVisible();
  await page.goto('/admin/audit');
  await snapshot(page, seen, '/admin/audit');
  await page.waitForTimeout(200);
  const provider = seen.find((s) => s.where.includes('/oauth2/auth?'))!.where.match(/https?:\/\/[^/]+/)![0];
  await expectNoToken(seen, request, provider, 0);
});

test('the audit would notice a leaked token', async ({ request }, info) => {
  test.skip(info.project.name !== 'js', 'runs once');
  // The admin client can get a token by itself; introspection must call it live.
  const provider = `http://127.0.0.1:${Number(process.env.E2E_PORT ?? 3100) + 1}`;
  const admin = 'Basic ' + Buffer.from('gatehouse-admin:gatehouse-admin-dev-secret-not-for-production').toString('base64');
  const t = await request.post(`${provider}/oauth2/token`, {
    headers: { authorization: admin },
    form: { grant_type: 'client_credentials', audience: 'admin-api' },
  });
  expect(t.status()).toBe(200);
  const token: string = (await t.json()).access_token;
  expect(`<p>${token}</p>`.match(JWT)?.[0]).toBe(token);
  const auth = 'Basic ' + Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64');
  const r = await request.post(`${provider}/oauth2/introspect`, { headers: { authorization: auth }, form: { token } });
  expect((await r.json()).active).toBe(true);
});
