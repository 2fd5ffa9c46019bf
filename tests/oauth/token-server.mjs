// The SCIM target's token server in scimgate's tests: oidc-provider, a real (OpenID-certified)
// OAuth 2.0 authorization server, with
//   - client_credentials (RFC 6749 §4.4) for `scim-basic` (client_secret_basic) and `scim-post`
//     (client_secret_post), scope `scim`;
//   - Zoom's server-to-server OAuth: the custom grant `account_credentials` for `zoom-s2s`
//     (Basic client auth, `account_id` checked), its parameters in the query string as Zoom
//     takes them (`POST /token?grant_type=account_credentials&account_id=…`);
//   - token introspection (RFC 7662) for `scim-target`, the resource server the tests' SCIM
//     target verifies every bearer with.
// Every access token lives TOKEN_TTL_S seconds (default 5), so refreshes happen within a test.
//
//   node token-server.mjs PORT        (or PORT=… node token-server.mjs)
//   env: TOKEN_TTL_S, CLIENT_SECRET (of the three token clients), TARGET_SECRET (of scim-target),
//        ZOOM_ACCOUNT_ID, TLS_CERT + TLS_KEY (PEM files: serve https instead of http)
//
// It prints `listening on PORT` once it serves, and one line per token issued or refused (never a
// token or a secret). GET /_admin/stats answers what the tests count: tokens issued per grant,
// token requests refused.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node token-server.mjs PORT');
  process.exit(2);
}
const ttl = Number(process.env.TOKEN_TTL_S ?? 5);
const clientSecret = process.env.CLIENT_SECRET ?? 'client-secret';
const targetSecret = process.env.TARGET_SECRET ?? 'target-secret';
const accountId = process.env.ZOOM_ACCOUNT_ID ?? 'zoom-account';

const stats = { issued: { client_credentials: 0, account_credentials: 0 }, refused: 0 };

const tls = process.env.TLS_CERT && process.env.TLS_KEY
  ? { cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) }
  : null;

const provider = new Provider(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: 'scim-basic',
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'scim',
    },
    {
      client_id: 'scim-post',
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
      scope: 'scim',
    },
    {
      client_id: 'zoom-s2s',
      client_secret: clientSecret,
      grant_types: ['account_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'scim-target',
      client_secret: targetSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: ['openid', 'scim'],
  cookies: { keys: ['scimgate-test-only-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
  },
  ttl: { ClientCredentials: ttl },
});

// Zoom's server-to-server OAuth: Basic client auth, account_id of the app's account, and a
// client_credentials-like token of the same short lifetime.
provider.registerGrantType(
  'account_credentials',
  async (ctx) => {
    const { client, params } = ctx.oidc;
    if (params.account_id !== accountId) {
      throw new errors.InvalidGrant('unknown account_id');
    }
    const token = new provider.ClientCredentials({ client });
    const value = await token.save();
    ctx.body = {
      access_token: value,
      token_type: 'bearer',
      expires_in: token.expiration,
      scope: 'user:read:admin user:write:admin',
      api_url: 'https://api.zoom.us',
    };
  },
  ['account_id'],
);

provider.on('grant.success', (ctx) => {
  const grant = ctx.oidc.params.grant_type;
  stats.issued[grant] = (stats.issued[grant] ?? 0) + 1;
  console.log(`issued grant=${grant} client=${ctx.oidc.client?.clientId}`);
});
provider.on('grant.error', (ctx, err) => {
  stats.refused += 1;
  console.log(`refused grant=${ctx.oidc?.params?.grant_type} error=${err.error}`);
});

const app = provider.callback();

// Zoom takes grant_type and account_id in the query string of the POST; oidc-provider reads
// token parameters from the form body. Move them there (the body stays whatever else was sent).
function zoomQueryToBody(req) {
  const url = new URL(req.url, 'http://x');
  if (req.method !== 'POST' || url.pathname !== '/token' || !url.searchParams.has('grant_type')) {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      for (const [k, v] of url.searchParams) form.append(k, v);
      const body = form.toString();
      req.body = body;
      req.headers['content-type'] = 'application/x-www-form-urlencoded';
      req.headers['content-length'] = String(Buffer.byteLength(body));
      req.url = url.pathname;
      resolve();
    });
  });
}

async function handle(req, res) {
  if (req.method === 'GET' && req.url === '/_admin/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  try {
    await zoomQueryToBody(req);
  } catch {
    res.writeHead(400).end();
    return;
  }
  app(req, res);
}
const server = tls ? https.createServer(tls, handle) : http.createServer(handle);
server.keepAliveTimeout = 5000;
server.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
