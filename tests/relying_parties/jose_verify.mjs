// Verifies a token with jose (npm) against a live JWKS: argv jwks_url token algorithms-json|- issuer
// audience. Prints {"alg": ..., "sub": ...} or {"error": code}. Used by tests/client/test_algorithm_names.py.
import * as jose from 'jose'

const [jwksUrl, token, algorithms, issuer, audience] = process.argv.slice(2)
const options = { issuer, audience }
if (algorithms !== '-') options.algorithms = JSON.parse(algorithms)
try {
  const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createRemoteJWKSet(new URL(jwksUrl)), options)
  process.stdout.write(JSON.stringify({ alg: protectedHeader.alg, sub: payload.sub }) + '\n')
} catch (error) {
  process.stdout.write(JSON.stringify({ error: error.code ?? error.name }) + '\n')
}
