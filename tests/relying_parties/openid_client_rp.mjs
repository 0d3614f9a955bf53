// A platform's relying party built on openid-client 6 (npm), the library the issue names: the test
// suite drives it over stdin/stdout against a live escrow (tests/test_oidc_openid_client.py).
//
// argv: issuer client_id client_secret|- id_token_alg redirect_uri extra-params-json max_age|-
// stdout line 1: {"authorization_url": ...}; stdin line 1: the callback URL the browser reached;
// stdout line 2: {"claims": {...}, "id_token": ...} or {"error": code, "message": ...}.
import * as readline from 'node:readline'
import * as client from 'openid-client'

const [issuer, clientId, secret, alg, redirectUri, extraJson, maxAgeArg] = process.argv.slice(2)
const out = (value) => process.stdout.write(JSON.stringify(value) + '\n')

try {
  const metadata = { id_token_signed_response_alg: alg }
  if (secret !== '-') metadata.client_secret = secret
  const auth = secret === '-' ? client.None() : client.ClientSecretBasic(secret)
  const config = await client.discovery(new URL(issuer), clientId, metadata, auth, {
    execute: [client.allowInsecureRequests], // the test issuer is http on loopback
  })
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...JSON.parse(extraJson),
  })
  out({ authorization_url: url.href })
  const lines = readline.createInterface({ input: process.stdin })
  const callback = (await lines[Symbol.asyncIterator]().next()).value
  lines.close()
  const checks = { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }
  if (maxAgeArg !== '-') checks.maxAge = Number(maxAgeArg)
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), checks)
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub)
  out({ claims: tokens.claims(), id_token: tokens.id_token, userinfo })
} catch (error) {
  const cause = error.cause instanceof Error ? error.cause : undefined
  out({ error: error.code ?? error.name, message: String(error.message), cause: cause ? `${cause.code ?? cause.name}: ${cause.message}` : null })
}
