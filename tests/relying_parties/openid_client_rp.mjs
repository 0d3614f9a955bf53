// A platform's relying party built on openid-client 6 (npm), the library the issue names: the test
// suite drives it over stdin/stdout against a live escrow (tests/test_oidc_openid_client.py).
//
// argv: issuer client_id client_secret|- id_token_alg redirect_uri extra-params-json max_age|- [mode]
// stdout line 1: {"authorization_url": ...}; stdin line 1: the callback URL the browser reached;
// stdout line 2: {"claims": {...}, "id_token": ..., "userinfo": ..., ...what the mode adds} or
// {"error": code, "oauth_error": ..., "message": ...}.
//
// mode (default "signin": the sign-in alone), each through openid-client's own API:
//   oauth2      discovery from the RFC 8414 document (algorithm "oauth2"); adds "server_metadata"
//   refresh     refreshTokenGrant (rotation), then the old refresh token again (reuse), then the
//               rotated one and its access token (the sign-in's family after the reuse)
//   introspect  tokenIntrospection of both tokens, tokenRevocation of the access token, then of
//               the refresh token, each followed by what still works
//   jar         a request object (buildAuthorizationUrlWithJAR, signed with a fresh P-256 key) sent
//               with the OAuth parameters as OIDC Core 6.1 says; the callback must be an error
//   logout      adds "end_session_url" (buildEndSessionUrl: id_token_hint, post_logout_redirect_uri
//               <redirect origin>/signed-out, state) and "logout_state"
//   cors        every request carries Origin: <redirect origin>, as a single-page app's would; adds
//               "cors" (each response's Access-Control-Allow-Origin), a token endpoint preflight,
//               and a userinfo call from an unregistered origin
import * as readline from 'node:readline'
import * as client from 'openid-client'

const [issuer, clientId, secret, alg, redirectUri, extraJson, maxAgeArg, mode = 'signin'] = process.argv.slice(2)
const out = (value) => process.stdout.write(JSON.stringify(value) + '\n')
const origin = new URL(redirectUri).origin
const FOREIGN_ORIGIN = 'https://elsewhere.example'

const failure = (error) => {
  const cause = error.cause instanceof Error ? error.cause : undefined
  // a WWWAuthenticateChallengeError's cause is the parsed challenges (RFC 6750 section 3)
  const challenge = Array.isArray(error.cause) ? error.cause[0]?.parameters : undefined
  return {
    error: error.code ?? error.name,
    oauth_error: error.error ?? challenge?.error ?? null,
    status: error.status ?? null,
    message: String(error.message),
    cause: cause ? `${cause.code ?? cause.name}: ${cause.message}` : null,
  }
}
// Runs one step that may fail: {"ok": value} or the failure.
const attempt = async (step) => {
  try {
    return { ok: (await step()) ?? null }
  } catch (error) {
    return failure(error)
  }
}

const cors = []
const corsFetch = async (url, options) => {
  const headers = new Headers(options.headers)
  headers.set('origin', origin)
  const response = await fetch(url, { ...options, headers })
  cors.push({
    path: new URL(url).pathname,
    method: options.method ?? 'GET',
    status: response.status,
    allow_origin: response.headers.get('access-control-allow-origin'),
    vary: response.headers.get('vary'),
  })
  return response
}
const fetchWithOrigin = async (url, requestOrigin, options = {}) => {
  const response = await fetch(url, { ...options, headers: { ...options.headers, origin: requestOrigin } })
  return {
    path: new URL(url).pathname,
    method: options.method ?? 'GET',
    status: response.status,
    allow_origin: response.headers.get('access-control-allow-origin'),
    allow_methods: response.headers.get('access-control-allow-methods'),
    allow_headers: response.headers.get('access-control-allow-headers'),
  }
}

try {
  const metadata = { id_token_signed_response_alg: alg }
  if (secret !== '-') metadata.client_secret = secret
  const auth = secret === '-' ? client.None() : client.ClientSecretBasic(secret)
  const options = { execute: [client.allowInsecureRequests] } // the test issuer is http on loopback
  if (mode === 'oauth2') options.algorithm = 'oauth2' // /.well-known/oauth-authorization-server
  if (mode === 'cors') options[client.customFetch] = corsFetch
  const config = await client.discovery(new URL(issuer), clientId, metadata, auth, options)
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const parameters = {
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...JSON.parse(extraJson),
  }
  const url = client.buildAuthorizationUrl(config, parameters)
  if (mode === 'jar') {
    const { privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
    const jar = await client.buildAuthorizationUrlWithJAR(config, parameters, privateKey)
    url.searchParams.set('request', jar.searchParams.get('request'))
  }
  out({ authorization_url: url.href })
  const lines = readline.createInterface({ input: process.stdin })
  const callback = (await lines[Symbol.asyncIterator]().next()).value
  lines.close()
  const checks = { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }
  if (maxAgeArg !== '-') checks.maxAge = Number(maxAgeArg)
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), checks)
  const sub = tokens.claims().sub
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub)
  const result = { claims: tokens.claims(), id_token: tokens.id_token, userinfo }
  const server = config.serverMetadata()

  if (mode === 'oauth2') {
    result.server_metadata = server
  } else if (mode === 'refresh') {
    const rotated = await client.refreshTokenGrant(config, tokens.refresh_token)
    result.rotated = {
      new_refresh_token: rotated.refresh_token !== undefined && rotated.refresh_token !== tokens.refresh_token,
      new_access_token: rotated.access_token !== tokens.access_token,
      userinfo: await client.fetchUserInfo(config, rotated.access_token, sub),
    }
    result.old_refresh_token_again = await attempt(() => client.refreshTokenGrant(config, tokens.refresh_token))
    result.rotated_refresh_token_after_reuse = await attempt(() =>
      client.refreshTokenGrant(config, rotated.refresh_token),
    )
    result.rotated_access_token_after_reuse = await attempt(() =>
      client.fetchUserInfo(config, rotated.access_token, sub),
    )
  } else if (mode === 'introspect') {
    result.access_token = await client.tokenIntrospection(config, tokens.access_token)
    result.refresh_token = await client.tokenIntrospection(config, tokens.refresh_token)
    await client.tokenRevocation(config, tokens.access_token)
    result.access_token_after_revocation = await client.tokenIntrospection(config, tokens.access_token)
    result.userinfo_after_revocation = await attempt(() => client.fetchUserInfo(config, tokens.access_token, sub))
    result.refresh_token_after_access_revocation = await client.tokenIntrospection(config, tokens.refresh_token)
    await client.tokenRevocation(config, tokens.refresh_token)
    result.refresh_token_after_revocation = await client.tokenIntrospection(config, tokens.refresh_token)
    result.refresh_after_revocation = await attempt(() => client.refreshTokenGrant(config, tokens.refresh_token))
  } else if (mode === 'logout') {
    result.logout_state = client.randomState()
    result.end_session_url = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: `${origin}/signed-out`,
      state: result.logout_state,
    }).href
  } else if (mode === 'cors') {
    const rotated = await client.refreshTokenGrant(config, tokens.refresh_token)
    result.userinfo_from_foreign_origin = await fetchWithOrigin(server.userinfo_endpoint, FOREIGN_ORIGIN, {
      headers: { authorization: `Bearer ${rotated.access_token}` },
    })
    await client.tokenRevocation(config, rotated.refresh_token)
    result.cors = cors
    result.jwks = await fetchWithOrigin(server.jwks_uri, origin)
    result.token_preflight = await fetchWithOrigin(server.token_endpoint, origin, {
      method: 'OPTIONS',
      headers: { 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    })
  }
  out(result)
} catch (error) {
  out(failure(error))
}
