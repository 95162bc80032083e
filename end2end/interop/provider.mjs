// An independent, OpenID Certified provider (npm `oidc-provider`) on loopback,
// with its development login form, for the interop journey. Registers two
// clients for the app: one per token-endpoint authentication method.
//
//   node interop/provider.mjs <port> <app-origin-basic> <app-origin-post>
import Provider from 'oidc-provider';

const [port, basicApp, postApp] = process.argv.slice(2);
if (!port || !basicApp || !postApp) {
  console.error('usage: node interop/provider.mjs <port> <app-origin-basic> <app-origin-post>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const client = (id, method, origin) => ({
  client_id: id,
  client_secret: `${id}-interop-secret-0123456789`,
  token_endpoint_auth_method: method,
  redirect_uris: [`${origin}/login`],
  post_logout_redirect_uris: [`${origin}/logout`],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
});

const provider = new Provider(issuer, {
  clients: [client('gatehouse-basic', 'client_secret_basic', basicApp), client('gatehouse-post', 'client_secret_post', postApp)],
  // Development login: any login name signs in as that account.
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@interop.example`, email_verified: true, given_name: 'Interop' };
      },
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['given_name', 'family_name', 'name'] },
  features: { devInteractions: { enabled: true }, revocation: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ['interop-cookie-key-only-for-tests'] },
  ttl: { AccessToken: 3600, IdToken: 3600, Session: 3600, Grant: 3600, Interaction: 600 },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider listening at ${issuer}`));
