// Access tokens: HS256 JWTs, short-lived. Only HS256 is accepted on verify, so
// `alg: none` and algorithm-confusion tokens are refused.
//
// Verified tokens are cached (fast-jwt's verifier cache): a client sends the
// same token with every request until it refreshes, and the HMAC, the base64
// and JSON decoding and the claim checks of it were about 5 % of the server's
// CPU in the fan-out profile (`npm run bench -- --scenarios fanout --cpu-prof`).
// The cache is keyed by fast-jwt's own SHA-256 of the whole token (a custom key
// is refused by fast-jwt with a security warning, GHSA-rp9m-7r4c-75qg), and an
// entry never outlives the token's `exp`. Whether the session is still live is
// checked per request after this (plugins/app/authenticate.ts), so a logout is
// not cached here.
import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'

const VERIFIED_TOKEN_CACHE_SIZE = 10_000

export default fp<{ secret: string }>(async (app, opts) => {
  await app.register(jwt, {
    secret: opts.secret,
    sign: { algorithm: 'HS256', expiresIn: app.config.accessTokenTtlSeconds },
    verify: { algorithms: ['HS256'], cache: VERIFIED_TOKEN_CACHE_SIZE }
  })
}, { name: 'jwt', dependencies: ['config'] })
