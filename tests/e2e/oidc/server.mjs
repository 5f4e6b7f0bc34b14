// The e2e tier's real OIDC issuer: panva's oidc-provider (OpenID Certified), which this project
// does not write. It serves OIDC discovery, a JWKS and the client-credentials grant (RFC 6749
// section 4.4) with RFC 8707 resource indicators, issuing RFC 9068 JWT access tokens, over HTTPS
// on 127.0.0.1 with the certificate and signing keys the test made. It listens first, on the port
// the system picks, so the issuer URL holds the real port; then it prints "listening PORT".
//
// node server.mjs SETTINGS.json, where the settings hold: cert and key (PEM file paths), keys
// (private JWKs to sign with), alg, clients (oidc-provider client metadata), scopes, resources.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

import Provider, { errors } from 'oidc-provider';

const settings = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let handler = (req, res) => {
  res.writeHead(503).end();
};
const server = createServer(
  { cert: readFileSync(settings.cert), key: readFileSync(settings.key) },
  (req, res) => handler(req, res),
);

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`https://127.0.0.1:${port}`, {
    jwks: { keys: settings.keys },
    clients: settings.clients,
    scopes: settings.scopes,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => {
          if (!settings.resources.includes(resource)) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: settings.scopes.join(' '),
            audience: resource,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: settings.alg } },
          };
        },
      },
    },
  });
  handler = provider.callback();
  process.stdout.write(`listening ${port}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
